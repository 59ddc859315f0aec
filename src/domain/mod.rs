//! Parsed input values, a file per concern (`network`, `measures`, `text`, `accounts`,
//! `money`, `storage`) and the vocabulary (`vocabulary`). A value of one of these types has
//! already been checked, so the code that stores it never validates again ("parse, don't
//! validate"). Each `parse` returns a `BAD_USER_INPUT` error naming the field, before
//! anything touches the database.
//!
//! It is also the one vocabulary of statuses, roles and kinds (`stored_words!` enums and
//! [`EnvState`]): each word has its database spelling here and nowhere else (`as_db`,
//! `from_db`, and serde for events), and services, `auth::policy`, the events and the
//! GraphQL enums (`graphql::enums`) all use the enums. A stored spelling the server does not
//! know is an INTERNAL error, never a guess.

use crate::error::AppError;

/// A closed set of words stored in a column, with its database spelling.
macro_rules! stored_words {
    ($(#[$meta:meta])* $name:ident ($what:literal) { $($(#[$vmeta:meta])* $variant:ident = $db:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $db)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];

            /// The spelling stored in the column (and carried by events).
            pub const fn as_db(self) -> &'static str {
                match self {
                    $(Self::$variant => $db),+
                }
            }

            pub fn from_db(raw: &str) -> Result<Self, AppError> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_db() == raw)
                    .ok_or_else(|| AppError::internal(format!(concat!("unknown ", $what, " '{}'"), raw)))
            }
        }
    };
}

mod accounts;
mod measures;
mod money;
mod network;
mod storage;
mod text;
mod vocabulary;

pub use accounts::*;
pub use measures::*;
pub use money::*;
pub use network::*;
pub use storage::{AssetKind, StorageKey, Tenant};
pub use text::*;
pub use vocabulary::*;

fn bad(field: &str, why: impl std::fmt::Display) -> AppError {
    AppError::bad_input(format!("{field}: {why}"))
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
    fn text_refuses_control_characters_except_lines_in_multiline_text() {
        for bad in ["a\0b", "a\u{1b}[31m", "a\u{7f}", "a\u{85}b", "a\nb", "a\tb"] {
            let err = BoundedText::parse("name", bad, 50).unwrap_err();
            assert_eq!(err.code().as_str(), "BAD_USER_INPUT", "{bad:?}");
        }
        assert!(BoundedText::parse_multiline("d", "line 1\r\n\tline 2", 50).is_ok());
        assert!(BoundedText::parse_multiline("d", "a\0b", 50).is_err());
    }

    #[test]
    fn json_inputs_are_bounded_and_hold_no_nul() {
        let ok = serde_json::json!({"acc": 0.9, "notes": "two\nlines"});
        assert!(BoundedJson::parse("m", ok, 100).is_ok());
        assert!(BoundedJson::parse("m", serde_json::json!({"a": "x".repeat(200)}), 100).is_err());
        assert!(BoundedJson::parse("m", serde_json::json!({"a": ["\u{0}"]}), 100).is_err());
        assert!(BoundedJson::parse("m", serde_json::json!({"a\nb": 1}), 100).is_err());
    }

    #[test]
    fn output_round_trips_through_its_stored_form() {
        for raw in ["plain", "", "a\0b\0", "back\\slash\\0", "\\", "é\0é\\"] {
            let stored = encode_output(raw);
            assert!(!stored.contains('\0'));
            assert_eq!(decode_output(&stored), raw, "{raw:?}");
        }
        assert_eq!(encode_output("no escapes"), "no escapes");
    }

    #[test]
    fn readings_are_finite_and_physical() {
        assert_eq!(
            Reading::parse("c", 42.5, Range::Percent).unwrap().get(),
            42.5
        );
        assert!(Reading::parse("t", -50.0, Range::Celsius).is_ok());
        for (v, r) in [
            (1e200, Range::Percent),
            (-0.1, Range::Percent),
            (100.5, Range::Percent),
            (151.0, Range::Celsius),
            (-1.0, Range::NonNegative),
            (f64::INFINITY, Range::NonNegative),
            (f64::NAN, Range::Celsius),
        ] {
            assert!(Reading::parse("f", v, r).is_err(), "{v} in {r:?}");
        }
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

    #[test]
    fn environment_states_round_trip_and_hold_what_they_should() {
        for s in EnvState::ALL {
            assert_eq!(EnvState::from_db(Some(s.as_db())).unwrap(), s);
            // Events carry the same spelling.
            let wire = serde_json::to_string(&s).unwrap();
            assert_eq!(wire, format!("\"{}\"", s.as_db()));
        }
        assert_eq!(EnvState::from_db(None).unwrap(), EnvState::Creating);
        assert!(EnvState::from_db(Some("exploded")).is_err());
        assert!(EnvState::Running.holds_compute());
        assert!(!EnvState::Stopped.holds_compute());
        assert!(EnvState::Stopped.holds_ports());
        assert!(!EnvState::Failed.holds_ports());
        for a in OrderAction::ALL {
            assert_eq!(OrderAction::from_db(a.as_db()).unwrap(), a);
        }
    }

    #[test]
    fn stored_words_round_trip_and_unknown_ones_are_refused() {
        for k in CommandOrderKind::ALL {
            assert_eq!(CommandOrderKind::from_db(k.as_db()).unwrap(), *k);
        }
        let err = CommandOrderKind::from_db("explode").unwrap_err();
        assert_eq!(err.code().as_str(), "INTERNAL");
        // On the bus, an order of an unknown kind does not decode at all.
        let run: CommandOrderKind = serde_json::from_str("\"run\"").unwrap();
        assert_eq!(run, CommandOrderKind::Run);
        assert!(serde_json::from_str::<CommandOrderKind>("\"explode\"").is_err());
        assert_eq!(
            serde_json::to_string(&CommandState::Cancelled).unwrap(),
            "\"cancelled\""
        );
        assert!(AccountState::admits(None));
        assert!(AccountState::admits(Some("active")));
        assert!(!AccountState::admits(Some("suspended")));
        assert_eq!(
            CommandState::from_db_opt(None).unwrap(),
            CommandState::Pending
        );
        assert!(CommandState::Timeout.is_final());
        assert!(!CommandState::Running.is_final());
    }

    #[test]
    fn variable_names_and_mount_paths() {
        assert!(EnvVarName::parse("env", "CUDA_HOME").is_ok());
        assert!(EnvVarName::parse("env", "_x1").is_ok());
        for bad in ["", "1X", "A-B", "A B", "Ä"] {
            assert!(EnvVarName::parse("env", bad).is_err(), "{bad}");
        }
        assert_eq!(
            MountPath::parse("p", "/data/imagenet/")
                .unwrap()
                .into_string(),
            "/data/imagenet"
        );
        for bad in ["data", "/", "/a/../etc", "/a\0b"] {
            assert!(MountPath::parse("p", bad).is_err(), "{bad:?}");
        }
    }
}
