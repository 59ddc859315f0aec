//! Sign-in, refresh and sign-out: a sign-in issues an access token and starts a family of
//! refresh tokens; each refresh rotates its token within the family, a reused token revokes
//! the whole family, and no family outlives `refresh_family_ttl_secs`. Changing the password
//! ends every session of the account. Accounts themselves are `services::accounts`.

use chrono::{Duration, NaiveDateTime, Utc};
use entity::{customers, refresh_tokens};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};

use crate::auth::jwt::JwtKeys;
use crate::auth::tokens::{random_token, sha256_hex, REFRESH_PREFIX};
use crate::config::AuthSettings;
use crate::db;
use crate::domain::{AccountRole, AccountState, Password};
use crate::error::{AppError, AppResult};
use crate::events::{EventBus, Revocation};
use crate::services::password;

/// What sign-in returns.
#[derive(Debug)]
pub struct Session {
    pub customer: customers::Model,
    pub access_token: String,
    /// Seconds since the epoch.
    pub access_expires_at: i64,
    pub refresh_token: String,
}

fn invalid_credentials() -> AppError {
    AppError::Unauthenticated
}

/// How long refresh tokens live: each one `refresh_ttl_secs`, a whole sign-in (the
/// family of tokens rotated from one login) `refresh_family_ttl_secs` at most.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub refresh_secs: i64,
    pub family_secs: i64,
}

impl From<&AuthSettings> for Lifetimes {
    fn from(s: &AuthSettings) -> Self {
        Self {
            refresh_secs: s.refresh_ttl_secs,
            family_secs: s.refresh_family_ttl_secs,
        }
    }
}

/// The sign-in a refresh token continues: its family and when that ends.
struct Family {
    id: String,
    expires_at: NaiveDateTime,
}

async fn issue_session(
    db: &impl ConnectionTrait,
    keys: &JwtKeys,
    lifetimes: Lifetimes,
    customer: customers::Model,
    family: Option<Family>,
) -> AppResult<Session> {
    let (access_token, access_expires_at) = keys.issue(
        customer.id,
        customer.role == AccountRole::Admin.as_db(),
        customer.credentials_version,
    )?;
    let now = Utc::now().naive_utc();
    let family = family.unwrap_or_else(|| Family {
        id: uuid::Uuid::new_v4().simple().to_string(),
        expires_at: now + Duration::seconds(lifetimes.family_secs),
    });
    let expires_at = (now + Duration::seconds(lifetimes.refresh_secs)).min(family.expires_at);
    let refresh_token = random_token(REFRESH_PREFIX);
    refresh_tokens::ActiveModel {
        customer_id: Set(customer.id),
        token_hash: Set(sha256_hex(&refresh_token)),
        family: Set(family.id),
        expires_at: Set(expires_at),
        family_expires_at: Set(Some(family.expires_at)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(Session {
        customer,
        access_token,
        access_expires_at,
        refresh_token,
    })
}

fn check_active(customer: &customers::Model) -> AppResult<()> {
    if AccountState::admits(customer.status.as_deref()) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// Signs in by username or e-mail. A wrong password and an unknown account look the same
/// (and take the same time: the hash is checked either way); a suspended or deleted
/// account is FORBIDDEN.
pub async fn login(
    db: &DatabaseConnection,
    keys: &JwtKeys,
    lifetimes: Lifetimes,
    throttle: &password::LoginThrottle,
    login: &str,
    password_text: &str,
) -> AppResult<Session> {
    let login = login.trim();
    throttle.check(login)?;
    let customer = customers::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(customers::Column::Username.eq(login))
                .add(customers::Column::Email.eq(login.to_lowercase())),
        )
        .one(db)
        .await?;
    let Some(customer) = customer else {
        password::verify_blocking(password_text, password::dummy_hash()).await;
        throttle.failed(login);
        return Err(invalid_credentials());
    };
    if !password::verify_blocking(password_text, &customer.password_hash).await {
        throttle.failed(login);
        return Err(invalid_credentials());
    }
    throttle.succeeded(login);
    check_active(&customer)?;
    issue_session(db, keys, lifetimes, customer, None).await
}

/// Exchanges a refresh token for a new session. The presented token is rotated (it cannot
/// be used again); presenting an already rotated token means it leaked, so its whole
/// family is revoked. The new token expires no later than the family does: a sign-in
/// ends `refresh_family_ttl_secs` after its login however often it is refreshed.
pub async fn refresh(
    db: &DatabaseConnection,
    keys: &JwtKeys,
    lifetimes: Lifetimes,
    token: &str,
) -> AppResult<Session> {
    let hash = sha256_hex(token);
    let txn = db::begin_write(db).await?;
    let row = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TokenHash.eq(hash))
        .one(&txn)
        .await?
        .ok_or_else(invalid_credentials)?;
    let now = Utc::now().naive_utc();
    let family_expires_at = row.family_expires_at.unwrap_or(row.expires_at);
    if row.revoked_at.is_some() || row.expires_at <= now || family_expires_at <= now {
        return Err(invalid_credentials());
    }
    if row.rotated_at.is_some() {
        revoke_family(&txn, &row.family).await?;
        txn.commit().await?;
        tracing::warn!(
            customer_id = row.customer_id,
            "refresh token reused: session family revoked"
        );
        return Err(invalid_credentials());
    }
    let rotated = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RotatedAt, Expr::value(now))
        .filter(refresh_tokens::Column::Id.eq(row.id))
        .filter(refresh_tokens::Column::RotatedAt.is_null())
        .exec(&txn)
        .await?;
    if rotated.rows_affected != 1 {
        return Err(invalid_credentials());
    }
    let customer = customers::Entity::find_by_id(row.customer_id)
        .one(&txn)
        .await?
        .ok_or_else(invalid_credentials)?;
    check_active(&customer)?;
    let family = Family {
        id: row.family,
        expires_at: family_expires_at,
    };
    let session = issue_session(&txn, keys, lifetimes, customer, Some(family)).await?;
    txn.commit().await?;
    Ok(session)
}

/// Revokes the refresh tokens `which` selects that are not revoked yet.
async fn revoke_tokens(db: &impl ConnectionTrait, which: SimpleExpr) -> AppResult<()> {
    refresh_tokens::Entity::update_many()
        .col_expr(
            refresh_tokens::Column::RevokedAt,
            Expr::value(Utc::now().naive_utc()),
        )
        .filter(which)
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes a whole sign-in: every token rotated from one login.
async fn revoke_family(db: &impl ConnectionTrait, family: &str) -> AppResult<()> {
    revoke_tokens(db, refresh_tokens::Column::Family.eq(family)).await
}

/// Revokes the session the refresh token belongs to. Unknown tokens are ignored (logging
/// out twice is not an error), but only the owner's tokens are touched.
pub async fn logout(db: &DatabaseConnection, customer_id: i64, token: &str) -> AppResult<()> {
    let row = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TokenHash.eq(sha256_hex(token)))
        .filter(refresh_tokens::Column::CustomerId.eq(customer_id))
        .one(db)
        .await?;
    if let Some(row) = row {
        revoke_family(db, &row.family).await?;
    }
    Ok(())
}

/// Changes the password after checking the current one, and signs out every session:
/// refresh tokens are revoked and open sockets of the account close.
pub async fn change_password(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    throttle: &password::LoginThrottle,
    customer_id: i64,
    current: &str,
    new: &str,
) -> AppResult<()> {
    let new = Password::parse("newPassword", new)?;
    let customer = customers::Entity::find_by_id(customer_id)
        .one(db)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    // The same per-account counter as sign-in: a stolen access token does not buy unlimited
    // guesses at the password behind it.
    throttle.check(&customer.username)?;
    if !password::verify_blocking(current, &customer.password_hash).await {
        throttle.failed(&customer.username);
        return Err(AppError::bad_input("currentPassword: incorrect"));
    }
    throttle.succeeded(&customer.username);
    let hash = password::hash_blocking(new).await?;
    let txn = db::begin_write(db).await?;
    // A new credentials version: access tokens issued before it no longer open a socket
    // (`auth::check_standing`).
    customers::Entity::update_many()
        .col_expr(customers::Column::PasswordHash, Expr::value(hash))
        .col_expr(
            customers::Column::UpdatedAt,
            Expr::value(Utc::now().naive_utc()),
        )
        .col_expr(
            customers::Column::CredentialsVersion,
            Expr::col(customers::Column::CredentialsVersion).add(1),
        )
        .filter(customers::Column::Id.eq(customer_id))
        .exec(&txn)
        .await?;
    revoke_tokens(&txn, refresh_tokens::Column::CustomerId.eq(customer_id)).await?;
    txn.commit().await?;
    bus.publish(vec![Revocation::customer(customer_id)]).await;
    Ok(())
}
