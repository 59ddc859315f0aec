//! The one error type of the server.
//!
//! Every fallible service function returns [`AppError`]. Client-facing variants map to a
//! stable `extensions.code` (see [`ErrorCode`]); database errors are classified once, in
//! `From<DbErr>`; internal errors are logged once, where they are turned into a GraphQL
//! error, and reach the client as an opaque "internal error" without SQL or stack text.

use std::fmt;

use sea_orm::{DbErr, TransactionError};

use crate::db::Violation;

/// The fixed set of `extensions.code` values a client can rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    NotFound,
    BadUserInput,
    Conflict,
    CapacityExhausted,
    RateLimited,
    /// The operation ran past its time limit and was abandoned; retrying later may work.
    Timeout,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Conflict => "CONFLICT",
            Self::CapacityExhausted => "CAPACITY_EXHAUSTED",
            Self::RateLimited => "RATE_LIMITED",
            Self::Timeout => "TIMEOUT",
            Self::Internal => "INTERNAL",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("authentication required")]
    Unauthenticated,
    #[error("not allowed")]
    Forbidden,
    /// The message names the kind of thing only, never whether it exists for someone else.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    BadUserInput(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    CapacityExhausted(String),
    /// Allowed in general, refused here for a stated reason (`extensions.reason`).
    #[error("{message}")]
    Refused {
        reason: RefusalReason,
        message: String,
    },
    #[error("too many requests")]
    RateLimited,
    /// An operation ran past `limits.request_timeout_ms` and was abandoned, or PostgreSQL
    /// cancelled one of its statements at `database.statement_timeout_ms` (TIMEOUT).
    #[error("the request took too long and was abandoned")]
    TimedOut,
    /// Anything the client cannot act on. The source is logged, never returned.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type AppResult<T> = Result<T, AppError>;

/// Why an otherwise allowed request was refused: `extensions.reason` beside FORBIDDEN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// A customer's or workspace's quota (GPUs, environments) would be exceeded.
    Quota,
    /// The monthly spend limit of the customer or workspace is reached.
    SpendLimit,
}

impl RefusalReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Quota => "QUOTA",
            Self::SpendLimit => "SPEND_LIMIT",
        }
    }
}

impl AppError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthenticated => ErrorCode::Unauthenticated,
            Self::Forbidden => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::BadUserInput(_) => ErrorCode::BadUserInput,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::CapacityExhausted(_) => ErrorCode::CapacityExhausted,
            Self::Refused { .. } => ErrorCode::Forbidden,
            Self::RateLimited => ErrorCode::RateLimited,
            Self::TimedOut => ErrorCode::Timeout,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::BadUserInput(message.into())
    }

    pub fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(err.into())
    }

    /// A DataLoader failure: already an `async_graphql::Error` made from an `AppError` (and
    /// logged there when internal); its message is kept, its origin is not.
    pub fn internal_gql(err: async_graphql::Error) -> Self {
        match err.extensions.as_ref().and_then(|e| e.get("code")) {
            Some(async_graphql::Value::String(code)) if code != "INTERNAL" => {
                Self::BadUserInput(err.message)
            }
            _ => Self::Internal(err.message.into()),
        }
    }
}

/// Classifies database errors: constraint violations are the client's to fix, everything
/// else is ours.
impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        match crate::db::violation(&err) {
            Some(Violation::Unique) => {
                Self::Conflict("a record with the same unique value already exists".into())
            }
            Some(Violation::ForeignKey) => {
                Self::BadUserInput("a referenced record does not exist".into())
            }
            None if crate::db::is_timeout(&err) => {
                // The client sees TIMEOUT; the statement is worth a look.
                tracing::warn!(error = %err, "statement cancelled by database.statement_timeout_ms");
                Self::TimedOut
            }
            None => Self::Internal(Box::new(err)),
        }
    }
}

impl From<TransactionError<AppError>> for AppError {
    fn from(err: TransactionError<AppError>) -> Self {
        match err {
            TransactionError::Connection(db) => db.into(),
            TransactionError::Transaction(app) => app,
        }
    }
}

impl AppError {
    /// The GraphQL error a client sees: the message and `extensions.code`. Internal errors
    /// are logged here, once, with their source.
    pub fn into_graphql(self) -> async_graphql::Error {
        use async_graphql::ErrorExtensions;
        let code = self.code();
        if let AppError::Internal(source) = &self {
            tracing::error!(error = %source, "internal error");
        }
        let reason = match &self {
            AppError::Refused { reason, .. } => Some(reason.as_str()),
            _ => None,
        };
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| {
            set_code(ext, code);
            if let Some(reason) = reason {
                ext.set("reason", reason);
            }
        })
    }

    /// The same, as an error of a whole response (no path): what a refusal before execution
    /// looks like on every transport.
    pub fn into_server_error(self) -> async_graphql::ServerError {
        self.into_graphql().into_server_error(Default::default())
    }
}

/// Writes `extensions.code`: the one place a code is set, for [`AppError`]s here and for the
/// errors async-graphql makes itself (`graphql::schema`: parse and validation errors, the
/// document limits).
pub fn set_code(ext: &mut async_graphql::ErrorExtensionValues, code: ErrorCode) {
    ext.set("code", code.as_str());
}

/// `result.gql()` turns a service result into a resolver result.
pub trait GqlResult<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GqlResult<T> for AppResult<T> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(AppError::into_graphql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_do_not_leak_their_source() {
        let err = AppError::internal(std::io::Error::other("SELECT * FROM secrets"));
        assert_eq!(err.to_string(), "internal error");
        assert_eq!(err.code(), ErrorCode::Internal);
    }

    #[test]
    fn not_found_names_only_the_kind() {
        assert_eq!(AppError::NotFound("host").to_string(), "host not found");
        assert_eq!(AppError::NotFound("host").code().as_str(), "NOT_FOUND");
    }
}
