//! Who is asking: principals, credentials and the rules of what each may see and change.
//!
//! - [`principal`]: the request's [`Principal`] (anonymous, a customer or admin, an agent).
//! - [`jwt`]: access tokens (HS256 pinned; `exp`, `iss`, `aud`, `sub` required).
//! - [`revocations`]: access tokens revoked before their expiry (per replica, from the bus).
//! - [`tokens`]: opaque secrets (refresh and agent tokens), stored only as SHA-256 hashes.
//! - [`scope`]: the vocabulary of access rules (scopes, the `Policy` trait, `Access`).
//! - [`policy`]: per table, which rows a user may read and write. Every generic resolver and
//!   every relation loader applies it, so a new table cannot be exposed without one.

pub mod jwt;
pub mod policy;
pub mod principal;
pub mod revocations;
pub mod scope;
pub mod tokens;

pub use principal::{Principal, User};
pub use revocations::RevokedSessions;

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::domain::{AccountRole, AccountState};
use crate::error::{AppError, AppResult};

/// Resolves an `Authorization` header value to a principal. No header is anonymous; a
/// header that does not verify is an error (never silently anonymous).
pub async fn authenticate(
    db: &DatabaseConnection,
    keys: &jwt::JwtKeys,
    revoked: &RevokedSessions,
    header: Option<&str>,
) -> AppResult<Principal> {
    let Some(header) = header else {
        return Ok(Principal::Anonymous);
    };
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or(AppError::Unauthenticated)?;
    verify_token(db, keys, revoked, token)
        .await
        .map(|v| v.principal)
}

/// A token that verified: who it speaks for and, for an access token, its `exp` (seconds
/// since the epoch) and the account's credentials version it was issued at (agent tokens
/// have neither).
#[derive(Debug, Clone)]
pub struct Verified {
    pub principal: Principal,
    pub expires_at: Option<i64>,
    pub version: Option<i32>,
}

impl Verified {
    /// No token: an anonymous caller.
    pub fn anonymous() -> Self {
        Self {
            principal: Principal::Anonymous,
            expires_at: None,
            version: None,
        }
    }
}

/// Whether the credentials a socket was opened with still stand, checked once per
/// connection more strictly than one request's (after the socket listens for revocations,
/// so that none falls between the check and the listening): a customer must still exist,
/// be active, hold the role the token names and not have changed their password since the
/// token was issued; an agent token must still be its host's. Otherwise FORBIDDEN (the
/// account or host changed since the token was issued).
pub async fn check_standing(
    db: &DatabaseConnection,
    verified: &Verified,
    token: &str,
) -> AppResult<()> {
    match &verified.principal {
        Principal::Anonymous => Ok(()),
        Principal::User(user) => {
            let customer = entity::customers::Entity::find_by_id(user.id)
                .one(db)
                .await?
                .ok_or(AppError::Forbidden)?;
            let active = AccountState::admits(customer.status.as_deref());
            let superseded = verified
                .version
                .is_some_and(|v| v != customer.credentials_version);
            if !active || superseded || (customer.role == AccountRole::Admin.as_db()) != user.admin
            {
                return Err(AppError::Forbidden);
            }
            Ok(())
        }
        Principal::Agent { host_id } => {
            let hash = tokens::sha256_hex(token);
            let holds = entity::hosts::Entity::find_by_id(host_id.as_str())
                .filter(entity::hosts::Column::AgentTokenHash.eq(hash))
                .one(db)
                .await?
                .is_some();
            if holds {
                Ok(())
            } else {
                Err(AppError::Forbidden)
            }
        }
    }
}

/// Verifies a token: the principal, and when an access token expires and its credentials
/// version. An access token issued before its customer's last revocation (suspended,
/// deleted, role or password changed: [`revocations`]) is UNAUTHENTICATED.
pub async fn verify_token(
    db: &DatabaseConnection,
    keys: &jwt::JwtKeys,
    revoked: &RevokedSessions,
    token: &str,
) -> AppResult<Verified> {
    if token.starts_with(tokens::AGENT_PREFIX) {
        let hash = tokens::sha256_hex(token);
        let host = entity::hosts::Entity::find()
            .filter(entity::hosts::Column::AgentTokenHash.eq(hash))
            .one(db)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        return Ok(Verified {
            principal: Principal::Agent { host_id: host.id },
            expires_at: None,
            version: None,
        });
    }
    let claims = keys.verify(token)?;
    let user = User {
        id: claims.customer_id()?,
        admin: claims.role == AccountRole::Admin.as_db(),
    };
    if revoked.is_revoked(user.id, claims.issued_ms()) {
        return Err(AppError::Unauthenticated);
    }
    Ok(Verified {
        principal: Principal::User(user),
        expires_at: Some(claims.exp),
        version: Some(claims.ver),
    })
}
