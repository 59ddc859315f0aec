//! Quantities: sizes in bytes, counts, and metric readings within a physical range.

use super::bad;
use crate::error::AppError;

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

/// The physical range a measured value lies in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Range {
    /// 0 to 100.
    Percent,
    /// Degrees Celsius, -50 to 150: what a working GPU or host sensor can read.
    Celsius,
    /// Zero or more (watts, load averages).
    NonNegative,
}

impl Range {
    fn bounds(self) -> (f64, f64) {
        match self {
            Self::Percent => (0.0, 100.0),
            Self::Celsius => (-50.0, 150.0),
            Self::NonNegative => (0.0, f64::MAX),
        }
    }
}

/// A value an agent measured: finite and within its physical [`Range`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading(f64);

impl Reading {
    pub fn parse(field: &str, raw: f64, range: Range) -> Result<Self, AppError> {
        let (min, max) = range.bounds();
        if !raw.is_finite() || raw < min || raw > max {
            return Err(bad(
                field,
                match range {
                    Range::NonNegative => format!("{raw} is not a finite value >= 0"),
                    _ => format!("{raw} is outside {min} to {max}"),
                },
            ));
        }
        Ok(Self(raw))
    }
    pub fn get(self) -> f64 {
        self.0
    }
}
