//! Relay cursor pagination (`first/after/last/before`), over offset or keyset cursors.
//!
//! Catalogue tables (hosts, customers, images, ...) page by offset: a cursor is the opaque
//! base64 of a row's position in the ordered, filtered list. That keeps every ordering
//! pageable with one query; a row inserted before the cursor between two page requests
//! shifts the window by one, which consoles tolerate on small tables.
//!
//! Time series and command lists ([`super::crud::ApiObject::KEYSET`]) page by keyset: a
//! cursor holds its row's sort key (the ordering's columns, then the primary key) and the
//! ordering it belongs to, and the next page is the rows after that key. A page at the end of
//! a week of samples costs what the first does, and inserts do not shift pages. A cursor
//! from another ordering, or one whose values do not fit the columns, is BAD_USER_INPUT.
//!
//! Page sizes are 1..=100; without `first` or `last` a page has 20 rows.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::NaiveDateTime;
use sea_orm::sea_query::ColumnType;
use sea_orm::{ColumnTrait, EntityTrait, IdenStatic, ModelTrait, Order};

use crate::error::{AppError, AppResult};
use crate::services::crud::SeekKey;

pub const MAX_PAGE_SIZE: i32 = 100;
pub const DEFAULT_PAGE_SIZE: i32 = 20;
/// The largest position a cursor may name. Far beyond any list this server keeps, and far
/// below the 64-bit bound of SQL `OFFSET` arithmetic, so a forged cursor is BAD_USER_INPUT.
pub const MAX_CURSOR_POSITION: u64 = 1 << 40;

#[derive(Debug, Default, Clone)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

/// The rows to fetch: `limit` rows from `offset`, plus one more to learn whether a next
/// page exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub offset: u64,
    pub limit: u64,
}

/// Query complexity of a list field: rows asked for (the default page when unsaid, the
/// maximum when out of range) times the complexity of one row, plus one for the list.
pub fn page_cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let rows = first
        .or(last)
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE) as usize;
    rows.saturating_mul(child_complexity).saturating_add(1)
}

/// Query complexity of a relation list (a `Vec` field, unpaged): its declared fan-out, the
/// rows one parent is expected to have, times the complexity of one row, plus one. Nested
/// relation lists multiply, so cycles (owner -> workspaces -> owner ...) meet the limit.
pub fn fan_out(rows: usize, child_complexity: usize) -> usize {
    rows.saturating_mul(child_complexity).saturating_add(1)
}

pub fn encode_cursor(position: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("pos:{position}"))
}

pub fn decode_cursor(cursor: &str) -> AppResult<u64> {
    let invalid = || AppError::bad_input(format!("'{cursor}' is not a cursor from this list"));
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix("pos:")
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|n| *n <= MAX_CURSOR_POSITION)
        .ok_or_else(invalid)
}

const KEY_PREFIX: &str = "key:";
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.f";

/// The ordering a keyset cursor belongs to, e.g. `collected_at-,id+`.
fn signature<E: EntityTrait>(keys: &[(E::Column, Order)]) -> String {
    keys.iter()
        .map(|(col, dir)| {
            let sign = if matches!(dir, Order::Desc) { '-' } else { '+' };
            format!("{}{sign}", col.as_str())
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The keyset cursor of `row` in a list ordered by `keys`.
pub fn encode_key_cursor<E: EntityTrait>(
    row: &E::Model,
    keys: &[(E::Column, Order)],
) -> AppResult<String> {
    let values = keys
        .iter()
        .map(|(col, _)| key_json(row.get(*col)))
        .collect::<AppResult<Vec<_>>>()?;
    let text =
        serde_json::to_string(&(signature::<E>(keys), values)).map_err(AppError::internal)?;
    Ok(URL_SAFE_NO_PAD.encode(format!("{KEY_PREFIX}{text}")))
}

/// The sort key a keyset cursor holds, checked against the list's ordering and columns.
pub fn decode_key_cursor<E: EntityTrait>(
    cursor: &str,
    keys: &[(E::Column, Order)],
) -> AppResult<SeekKey> {
    let invalid = || AppError::bad_input(format!("'{cursor}' is not a cursor from this list"));
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let json = text.strip_prefix(KEY_PREFIX).ok_or_else(invalid)?;
    let (sig, values): (String, Vec<serde_json::Value>) =
        serde_json::from_str(json).map_err(|_| invalid())?;
    if sig != signature::<E>(keys) || values.len() != keys.len() {
        return Err(invalid());
    }
    keys.iter()
        .zip(&values)
        .map(|((col, _), v)| key_value(*col, v).ok_or_else(invalid))
        .collect()
}

fn key_json(value: sea_orm::Value) -> AppResult<serde_json::Value> {
    use sea_orm::Value as V;
    Ok(match value {
        V::BigInt(v) => v.into(),
        V::Int(v) => v.into(),
        V::String(v) => v.map(|s| *s).into(),
        V::ChronoDateTime(v) => v.map(|t| t.format(TIME_FORMAT).to_string()).into(),
        other => {
            return Err(AppError::internal(format!(
                "{other:?} cannot be part of a cursor"
            )))
        }
    })
}

/// A cursor value as the column's type; `Some(None)` is NULL (only in a nullable column).
fn key_value(col: impl ColumnTrait, value: &serde_json::Value) -> Option<Option<sea_orm::Value>> {
    let def = col.def();
    if value.is_null() {
        return def.is_null().then_some(None);
    }
    let parsed: sea_orm::Value = match def.get_column_type() {
        ColumnType::BigInteger => value.as_i64()?.into(),
        ColumnType::Integer => i32::try_from(value.as_i64()?).ok()?.into(),
        ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => {
            value.as_str()?.to_owned().into()
        }
        ColumnType::DateTime | ColumnType::Timestamp => {
            NaiveDateTime::parse_from_str(value.as_str()?, TIME_FORMAT)
                .ok()?
                .into()
        }
        _ => return None,
    };
    Some(Some(parsed))
}

/// The rows a keyset page fetches: `limit` rows (plus one, to learn whether more exist)
/// from the start (after `after`) or, with `last` alone, from the end (before `before`);
/// with both `first` and `last`, the last `trim` of the first `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysetWindow {
    pub limit: u64,
    pub from_end: bool,
    pub trim: Option<u64>,
}

fn page_size(name: &str, value: Option<i32>) -> AppResult<Option<u64>> {
    match value {
        None => Ok(None),
        Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(Some(n as u64)),
        Some(n) => Err(AppError::bad_input(format!(
            "{name} must be between 1 and {MAX_PAGE_SIZE}, got {n}"
        ))),
    }
}

impl PageArgs {
    pub fn keyset_window(&self) -> AppResult<KeysetWindow> {
        let first = page_size("first", self.first)?;
        let last = page_size("last", self.last)?;
        Ok(match (first, last) {
            (Some(limit), trim) => KeysetWindow {
                limit,
                from_end: false,
                trim,
            },
            (None, Some(limit)) => KeysetWindow {
                limit,
                from_end: true,
                trim: None,
            },
            (None, None) => KeysetWindow {
                limit: DEFAULT_PAGE_SIZE as u64,
                from_end: false,
                trim: None,
            },
        })
    }

    /// Checks the arguments; `None` for `last` without `before` means the window depends on
    /// the total, which the caller then counts and passes to [`PageArgs::window`].
    pub fn needs_total(&self) -> bool {
        self.last.is_some() && self.before.is_none()
    }

    pub fn window(&self, total: Option<u64>) -> AppResult<Window> {
        let mut first = page_size("first", self.first)?;
        let last = page_size("last", self.last)?;
        if first.is_none() && last.is_none() {
            first = Some(DEFAULT_PAGE_SIZE as u64);
        }
        let mut start = match &self.after {
            Some(c) => decode_cursor(c)? + 1,
            None => 0,
        };
        let mut end = match &self.before {
            Some(c) => Some(decode_cursor(c)?),
            None => None,
        };
        if let Some(f) = first {
            end = Some(end.map_or(start + f, |e| e.min(start + f)));
        }
        if let Some(l) = last {
            let e = match end {
                Some(e) => e,
                None => total.unwrap_or(0),
            };
            start = start.max(e.saturating_sub(l));
            end = Some(e);
        }
        let end = end.unwrap_or(start).max(start);
        Ok(Window {
            offset: start,
            limit: end - start,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(
        first: Option<i32>,
        after: Option<u64>,
        last: Option<i32>,
        before: Option<u64>,
    ) -> PageArgs {
        PageArgs {
            first,
            after: after.map(encode_cursor),
            last,
            before: before.map(encode_cursor),
        }
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(42)).unwrap(), 42);
        assert!(decode_cursor("not-a-cursor!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("pos:x")).is_err());
        for forged in [
            "pos:9223372036854775807",
            "pos:18446744073709551615",
            "pos:-1",
        ] {
            let err = decode_cursor(&URL_SAFE_NO_PAD.encode(forged)).unwrap_err();
            assert_eq!(err.code().as_str(), "BAD_USER_INPUT");
        }
        let last = encode_cursor(MAX_CURSOR_POSITION);
        assert!(args(
            Some(100),
            Some(MAX_CURSOR_POSITION),
            None,
            Some(MAX_CURSOR_POSITION)
        )
        .window(None)
        .is_ok());
        assert_eq!(decode_cursor(&last).unwrap(), MAX_CURSOR_POSITION);
    }

    #[test]
    fn forward_pages() {
        assert_eq!(
            args(None, None, None, None).window(None).unwrap(),
            Window {
                offset: 0,
                limit: 20
            }
        );
        assert_eq!(
            args(Some(5), Some(4), None, None).window(None).unwrap(),
            Window {
                offset: 5,
                limit: 5
            }
        );
        assert_eq!(
            args(Some(5), Some(0), None, Some(3)).window(None).unwrap(),
            Window {
                offset: 1,
                limit: 2
            }
        );
    }

    #[test]
    fn backward_pages() {
        let a = args(None, None, Some(3), None);
        assert!(a.needs_total());
        assert_eq!(
            a.window(Some(10)).unwrap(),
            Window {
                offset: 7,
                limit: 3
            }
        );
        assert_eq!(
            args(None, None, Some(3), Some(2)).window(None).unwrap(),
            Window {
                offset: 0,
                limit: 2
            }
        );
        assert_eq!(
            args(None, None, Some(3), None).window(Some(1)).unwrap(),
            Window {
                offset: 0,
                limit: 1
            }
        );
    }

    #[test]
    fn page_size_bounds() {
        for bad in [0, -1, 101] {
            let err = args(Some(bad), None, None, None).window(None).unwrap_err();
            assert_eq!(err.code().as_str(), "BAD_USER_INPUT");
            assert!(args(None, None, Some(bad), None).window(Some(5)).is_err());
        }
        assert!(args(Some(100), None, None, None).window(None).is_ok());
    }
}
