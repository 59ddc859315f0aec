//! Text inputs: bounded one-line and multi-line text, JSON of bounded size, command output
//! as stored, environment variable names and paths inside a container.

use super::bad;
use crate::error::AppError;

/// Whether `c` may appear in text a person typed: no NUL, no other C0/C1 control character
/// and no DEL. Multi-line text (descriptions, scripts, messages) keeps newline, carriage
/// return and tab.
pub fn is_text_char(c: char, multiline: bool) -> bool {
    !c.is_control() || (multiline && matches!(c, '\n' | '\r' | '\t'))
}

/// Refuses control characters (see [`is_text_char`]) in text kept exactly as given.
pub fn check_chars(field: &str, value: &str, multiline: bool) -> Result<(), AppError> {
    match value.chars().find(|c| !is_text_char(*c, multiline)) {
        Some(c) => Err(bad(
            field,
            format!(
                "contains the control character U+{:04X}; it is not text",
                u32::from(c)
            ),
        )),
        None => Ok(()),
    }
}

/// Trimmed, non-empty text no longer than its column, without control characters
/// (multi-line text may hold newlines and tabs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundedText(String);

impl BoundedText {
    /// One line: no control character at all.
    pub fn parse(field: &str, raw: &str, max_chars: usize) -> Result<Self, AppError> {
        Self::parse_as(field, raw, max_chars, false)
    }

    /// Several lines: newline, carriage return and tab are kept; other controls refused.
    pub fn parse_multiline(field: &str, raw: &str, max_chars: usize) -> Result<Self, AppError> {
        Self::parse_as(field, raw, max_chars, true)
    }

    fn parse_as(
        field: &str,
        raw: &str,
        max_chars: usize,
        multiline: bool,
    ) -> Result<Self, AppError> {
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
        check_chars(field, value, multiline)?;
        Ok(Self(value.to_owned()))
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A JSON input (metrics, variables, labels): at most `max_bytes` when serialized, and no
/// control characters other than newline and tab in its keys and strings.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundedJson(serde_json::Value);

impl BoundedJson {
    pub fn parse(field: &str, raw: serde_json::Value, max_bytes: usize) -> Result<Self, AppError> {
        let size = serde_json::to_string(&raw)
            .map(|s| s.len())
            .unwrap_or(usize::MAX);
        if size > max_bytes {
            return Err(bad(
                field,
                format!("is {size} bytes of JSON; at most {max_bytes}"),
            ));
        }
        fn walk(field: &str, v: &serde_json::Value) -> Result<(), AppError> {
            match v {
                serde_json::Value::String(s) => check_chars(field, s, true),
                serde_json::Value::Array(items) => items.iter().try_for_each(|i| walk(field, i)),
                serde_json::Value::Object(map) => map.iter().try_for_each(|(k, v)| {
                    check_chars(field, k, false)?;
                    walk(field, v)
                }),
                _ => Ok(()),
            }
        }
        walk(field, &raw)?;
        Ok(Self(raw))
    }
    pub fn into_value(self) -> serde_json::Value {
        self.0
    }
}

/// Command output as stored: the agent's text with each backslash doubled and each NUL
/// written as backslash-zero, so output holding NUL bytes survives PostgreSQL `TEXT` (which
/// cannot hold NUL), the same way on both backends. [`decode_output`] gives the agent's text back.
pub fn encode_output(raw: &str) -> String {
    if !raw.contains(['\\', '\0']) {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len() + 8);
    for c in raw.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out
}

/// The inverse of [`encode_output`].
pub fn decode_output(stored: &str) -> String {
    if !stored.contains('\\') {
        return stored.to_owned();
    }
    let mut out = String::with_capacity(stored.len());
    let mut chars = stored.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// An environment variable name: a shell identifier of at most 128 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVarName(String);

impl EnvVarName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let mut chars = raw.chars();
        let starts_well = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        let valid = starts_well
            && raw.len() <= 128
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(bad(
                field,
                format!(
                    "'{raw}' is not a variable name (letters, digits and _, not a digit first)"
                ),
            ));
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// An absolute path inside a container: no `..`, no NUL, at most 512 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPath(String);

impl MountPath {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let valid = raw.starts_with('/')
            && raw.len() > 1
            && raw.len() <= 512
            && !raw.contains('\0')
            && !raw.split('/').any(|part| part == "..");
        if !valid {
            return Err(bad(
                field,
                format!("'{raw}' is not an absolute path without '..'"),
            ));
        }
        Ok(Self(raw.trim_end_matches('/').to_owned()))
    }
    pub fn into_string(self) -> String {
        self.0
    }
}
