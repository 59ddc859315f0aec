//! Account inputs: e-mail addresses, usernames and passwords.

use super::{bad, BoundedText};
use crate::error::AppError;

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
