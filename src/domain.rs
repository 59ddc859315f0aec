//! Parsed input values. A value of one of these types has already been checked, so the code
//! that stores it never validates again ("parse, don't validate"). Each `parse` returns a
//! `BAD_USER_INPUT` error naming the field, before anything touches the database.

use std::net::IpAddr;

use crate::error::AppError;

fn bad(field: &str, why: impl std::fmt::Display) -> AppError {
    AppError::bad_input(format!("{field}: {why}"))
}

/// An IPv4 or IPv6 address, stored in canonical text form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpAddress(IpAddr);

impl IpAddress {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        raw.trim()
            .parse::<IpAddr>()
            .map(Self)
            .map_err(|_| bad(field, format!("'{raw}' is not an IP address")))
    }
    pub fn into_string(self) -> String {
        self.0.to_string()
    }
}

/// A TCP/UDP port, 1..=65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port(u16);

impl Port {
    pub fn parse(field: &str, raw: i32) -> Result<Self, AppError> {
        u16::try_from(raw)
            .ok()
            .filter(|p| *p != 0)
            .map(Self)
            .ok_or_else(|| bad(field, format!("{raw} is not a port (1-65535)")))
    }
    pub fn get(self) -> i32 {
        i32::from(self.0)
    }
}

/// A size in bytes; never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(i64);

impl ByteSize {
    pub fn parse(field: &str, raw: i64) -> Result<Self, AppError> {
        if raw < 0 {
            return Err(bad(
                field,
                format!("{raw} is negative; sizes are bytes >= 0"),
            ));
        }
        Ok(Self(raw))
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

/// A whole count that cannot be negative (CPU cores, GPUs, file counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(i32);

impl Count {
    pub fn parse(field: &str, raw: i32) -> Result<Self, AppError> {
        if raw < 0 {
            return Err(bad(field, format!("{raw} is negative")));
        }
        Ok(Self(raw))
    }
    pub fn get(self) -> i32 {
        self.0
    }
}

/// Trimmed, non-empty text no longer than its column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundedText(String);

impl BoundedText {
    pub fn parse(field: &str, raw: &str, max_chars: usize) -> Result<Self, AppError> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(bad(field, "must not be empty"));
        }
        let len = value.chars().count();
        if len > max_chars {
            return Err(bad(
                field,
                format!("is {len} characters; at most {max_chars}"),
            ));
        }
        Ok(Self(value.to_owned()))
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// An e-mail address: one `@`, a non-empty local part, a dotted domain, no spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let value = BoundedText::parse(field, raw, 256)?.into_string();
        let valid = match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !value.chars().any(char::is_whitespace)
            }
            None => false,
        };
        if !valid {
            return Err(bad(field, format!("'{value}' is not an e-mail address")));
        }
        Ok(Self(value.to_lowercase()))
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A login name: 3-64 characters of letters, digits, `_`, `-` and `.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let value = raw.trim();
        let len = value.chars().count();
        if !(3..=64).contains(&len) {
            return Err(bad(field, "must be 3 to 64 characters"));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(bad(
                field,
                "may contain only letters, digits, '_', '-' and '.'",
            ));
        }
        Ok(Self(value.to_owned()))
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A new password: 8 to 128 characters. Hashing happens in `services::password`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let len = raw.chars().count();
        if len < 8 {
            return Err(bad(field, "must be at least 8 characters"));
        }
        if len > 128 {
            return Err(bad(field, "must be at most 128 characters"));
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addresses_are_parsed_and_canonical() {
        assert_eq!(
            IpAddress::parse("ip", " 10.0.0.1 ").unwrap().into_string(),
            "10.0.0.1"
        );
        assert_eq!(
            IpAddress::parse("ip", "::0001").unwrap().into_string(),
            "::1"
        );
        let err = IpAddress::parse("ipAddress", "10.0.0.256").unwrap_err();
        assert_eq!(err.code().as_str(), "BAD_USER_INPUT");
        assert!(err.to_string().starts_with("ipAddress:"));
        assert!(IpAddress::parse("ip", "host.example").is_err());
    }

    #[test]
    fn ports_are_1_to_65535() {
        assert_eq!(Port::parse("p", 22).unwrap().get(), 22);
        assert_eq!(Port::parse("p", 65535).unwrap().get(), 65535);
        assert!(Port::parse("p", 0).is_err());
        assert!(Port::parse("p", 65536).is_err());
        assert!(Port::parse("p", -1).is_err());
    }

    #[test]
    fn sizes_and_counts_are_not_negative() {
        assert_eq!(ByteSize::parse("s", 0).unwrap().get(), 0);
        assert_eq!(ByteSize::parse("s", i64::MAX).unwrap().get(), i64::MAX);
        assert!(ByteSize::parse("s", -1).is_err());
        assert!(Count::parse("c", -3).is_err());
        assert_eq!(Count::parse("c", 8).unwrap().get(), 8);
    }

    #[test]
    fn bounded_text_is_trimmed_and_bounded() {
        assert_eq!(
            BoundedText::parse("n", "  a b ", 5).unwrap().into_string(),
            "a b"
        );
        assert!(BoundedText::parse("n", "   ", 5).is_err());
        assert!(BoundedText::parse("n", "abcdef", 5).is_err());
        assert_eq!(
            BoundedText::parse("n", "日本語", 3).unwrap().into_string(),
            "日本語"
        );
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("e", "John@Example.COM").unwrap().into_string(),
            "john@example.com"
        );
        for bad in [
            "john",
            "@example.com",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@.com",
            "a@com.",
        ] {
            assert!(Email::parse("e", bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn usernames_and_passwords() {
        assert!(Username::parse("u", "john_doe").is_ok());
        assert!(Username::parse("u", "jo").is_err());
        assert!(Username::parse("u", "john doe").is_err());
        assert!(Password::parse("p", "short").is_err());
        assert!(Password::parse("p", &"x".repeat(129)).is_err());
        let p = Password::parse("p", "correct horse").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
