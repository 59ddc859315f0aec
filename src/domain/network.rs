//! Network inputs: IP addresses and ports.

use super::bad;
use crate::error::AppError;
use std::net::IpAddr;

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
