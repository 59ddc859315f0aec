//! Small conversions from column values to API values.

use async_graphql::ID;
use chrono::{DateTime, NaiveDateTime, Utc};
use rust_decimal::Decimal;

use super::scalars::BigInt;
use crate::domain::{check_chars, BoundedJson, BoundedText, ByteSize, Count, Port, StorageKey};
use crate::error::{AppError, AppResult};

/// Columns are `TIMESTAMP` (no zone) holding UTC.
pub fn ts(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

pub fn ts_opt(t: Option<NaiveDateTime>) -> Option<DateTime<Utc>> {
    t.map(ts)
}

pub fn big_opt(v: Option<i64>) -> Option<BigInt> {
    v.map(BigInt)
}

pub fn id(v: impl Into<ID>) -> ID {
    v.into()
}

/// Money has four decimal places on the wire whatever the stored scale.
pub fn money(d: impl Into<Decimal>) -> Decimal {
    let mut d = d.into().round_dp(4);
    d.rescale(4);
    d
}

// Input side: parse an input field into a column value (BAD_USER_INPUT naming the field).

pub fn text(field: &str, raw: String, max: usize) -> AppResult<String> {
    Ok(BoundedText::parse(field, &raw, max)?.into_string())
}

pub fn opt_text(field: &str, v: Option<String>, max: usize) -> AppResult<Option<String>> {
    v.map(|v| text(field, v, max)).transpose()
}

/// Descriptions: several lines (newlines and tabs kept), at most this many characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4000;
/// JSON inputs (model metrics, labels, variables): at most this many bytes serialized.
pub const MAX_JSON_BYTES: usize = 16 * 1024;

pub fn description(raw: String) -> AppResult<String> {
    Ok(BoundedText::parse_multiline("description", &raw, MAX_DESCRIPTION_CHARS)?.into_string())
}

pub fn opt_description(v: Option<String>) -> AppResult<Option<String>> {
    v.map(description).transpose()
}

/// Text kept exactly as given (not trimmed, may be empty): several lines, no other control
/// characters, at most `max` characters.
pub fn exact_text(field: &str, raw: String, max: usize) -> AppResult<String> {
    let len = raw.chars().count();
    if len > max {
        return Err(AppError::bad_input(format!(
            "{field}: is {len} characters; at most {max}"
        )));
    }
    check_chars(field, &raw, true)?;
    Ok(raw)
}

pub fn json(field: &str, raw: serde_json::Value) -> AppResult<serde_json::Value> {
    Ok(BoundedJson::parse(field, raw, MAX_JSON_BYTES)?.into_value())
}

pub fn port(field: &str, raw: i32) -> AppResult<i32> {
    Ok(Port::parse(field, raw)?.get())
}

pub fn count(field: &str, raw: i32) -> AppResult<i32> {
    Ok(Count::parse(field, raw)?.get())
}

pub fn bytes(field: &str, v: BigInt) -> AppResult<i64> {
    Ok(ByteSize::parse(field, v.0)?.get())
}

pub fn opt_bytes(field: &str, v: Option<BigInt>) -> AppResult<Option<i64>> {
    v.map(|v| bytes(field, v)).transpose()
}

/// A foreign key given as an `ID` to a table with numeric ids.
pub fn fk(field: &str, id: &ID) -> AppResult<i64> {
    id.parse::<i64>().map_err(|_| {
        AppError::bad_input(format!(
            "{field}: '{}' is not an id of the referenced table",
            id.as_str()
        ))
    })
}

/// An operator's import key (`importKey`): unset when not given, so that the platform
/// generates one; `auth::policy` admits it from operators only.
pub fn import_key(raw: Option<String>) -> AppResult<sea_orm::ActiveValue<String>> {
    Ok(match raw {
        Some(raw) => sea_orm::ActiveValue::Set(StorageKey::parse("importKey", &raw)?.into_string()),
        None => sea_orm::ActiveValue::NotSet,
    })
}

/// A JSON input that must be an object of strings (labels, selectors, environments).
pub fn string_map(
    field: &str,
    value: serde_json::Value,
) -> AppResult<serde_json::Map<String, serde_json::Value>> {
    match json(field, value)? {
        serde_json::Value::Object(map) if map.values().all(serde_json::Value::is_string) => Ok(map),
        _ => Err(AppError::bad_input(format!(
            "{field}: must be an object of strings"
        ))),
    }
}
