//! Custom scalars.
//!
//! `BigInt` carries 64-bit integers (byte counts, 64-bit ids) that do not fit GraphQL's
//! 32-bit `Int`. On the wire it is a JSON **string** of decimal digits (`"137438953472"`), so
//! JavaScript clients never lose precision; as input both a string and a JSON number are
//! accepted. `DateTime` (RFC 3339, UTC), `Decimal` (string) and `JSON` come from
//! async-graphql.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct BigInt(pub i64);

/// A 64-bit integer, serialized as a string of decimal digits (e.g. `"137438953472"`).
/// Inputs may be a string or a number.
#[Scalar(name = "BigInt")]
impl ScalarType for BigInt {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(BigInt)
                .map_err(|_| InputValueError::custom(format!("'{s}' is not a 64-bit integer"))),
            Value::Number(n) => n
                .as_i64()
                .map(BigInt)
                .ok_or_else(|| InputValueError::custom(format!("{n} is not a 64-bit integer"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

impl From<i64> for BigInt {
    fn from(v: i64) -> Self {
        Self(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigint_round_trips_as_string() {
        let v = BigInt(137_438_953_472).to_value();
        assert_eq!(v, Value::String("137438953472".into()));
        assert_eq!(
            <BigInt as ScalarType>::parse(v).unwrap(),
            BigInt(137_438_953_472)
        );
        assert_eq!(
            <BigInt as ScalarType>::parse(Value::Number(5.into())).unwrap(),
            BigInt(5)
        );
        assert!(<BigInt as ScalarType>::parse(Value::String("1e3".into())).is_err());
        assert!(<BigInt as ScalarType>::parse(Value::Boolean(true)).is_err());
    }
}
