//! The identity a request acts as.

use crate::domain::AccountRole;
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    Anonymous,
    /// A customer; `admin` for platform operators (customers with role `admin`).
    User(User),
    /// A node agent, acting only for its own host.
    Agent {
        host_id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct User {
    pub id: i64,
    pub admin: bool,
}

impl Principal {
    /// What kind of caller this is, for logs and spans (never an identity).
    pub fn kind(&self) -> &'static str {
        match self {
            Principal::Anonymous => "anonymous",
            Principal::User(u) if u.admin => AccountRole::Admin.as_db(),
            Principal::User(_) => AccountRole::Customer.as_db(),
            Principal::Agent { .. } => "agent",
        }
    }

    /// The signed-in customer or admin. Anonymous callers are UNAUTHENTICATED; agents,
    /// which may not call customer operations, are FORBIDDEN.
    pub fn user(&self) -> AppResult<User> {
        match self {
            Principal::User(u) => Ok(*u),
            Principal::Anonymous => Err(AppError::Unauthenticated),
            Principal::Agent { .. } => Err(AppError::Forbidden),
        }
    }

    /// An admin, or FORBIDDEN (UNAUTHENTICATED when anonymous).
    pub fn admin(&self) -> AppResult<User> {
        let user = self.user()?;
        if user.admin {
            Ok(user)
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// The host of an agent token; anything else is FORBIDDEN (UNAUTHENTICATED when
    /// anonymous).
    pub fn agent_host(&self) -> AppResult<&str> {
        match self {
            Principal::Agent { host_id } => Ok(host_id),
            Principal::Anonymous => Err(AppError::Unauthenticated),
            Principal::User(_) => Err(AppError::Forbidden),
        }
    }

    /// A short key: rate-limit buckets and revocation topics (`events::Revocation`).
    pub fn rate_key(&self) -> Option<String> {
        match self {
            Principal::Anonymous => None,
            Principal::User(u) => Some(user_key(u.id)),
            Principal::Agent { host_id } => Some(agent_key(host_id)),
        }
    }
}

pub fn user_key(customer_id: i64) -> String {
    format!("user:{customer_id}")
}

/// The customer a `user:<id>` key names.
pub fn customer_of_key(key: &str) -> Option<i64> {
    key.strip_prefix("user:")?.parse().ok()
}

pub fn agent_key(host_id: &str) -> String {
    format!("agent:{host_id}")
}
