//! Accounts and workspaces: creating a workspace makes its owner a member (in the insert's
//! transaction); deleting a customer first ends their memberships the way leaving does
//! (`services::workspaces`), so no other customer's workspace goes with them. Sign-up,
//! sign-in and tokens are in [`auth`].

use entity::{customers, workspace_members, workspaces};
use futures_util::future::BoxFuture;
use sea_orm::{ActiveModelTrait, DatabaseTransaction, Set};

use crate::domain::{AccountState, MemberRole, MemberState};
use crate::error::AppResult;
use crate::events::{Event, Revocation};
use crate::services::crud::Lifecycle;
use crate::services::workspaces::release_customer;

impl Lifecycle for workspaces::Entity {
    /// The owner becomes an `owner` member; `member_count` starts at the seed's default of 1,
    /// which counts that row.
    fn after_insert<'a>(
        txn: &'a DatabaseTransaction,
        row: &'a workspaces::Model,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            workspace_members::ActiveModel {
                workspace_id: Set(row.id),
                customer_id: Set(row.owner_id),
                role: Set(MemberRole::Owner.as_db().into()),
                status: Set(Some(MemberState::Active.as_db().into())),
                joined_at: Set(Some(chrono::Utc::now().naive_utc())),
                ..Default::default()
            }
            .insert(txn)
            .await?;
            Ok(())
        })
    }
}

impl Lifecycle for customers::Entity {
    /// A deleted customer's memberships end as if they left; see [`release_customer`].
    fn before_delete<'a>(
        txn: &'a DatabaseTransaction,
        row: &'a customers::Model,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(release_customer(txn, row.id))
    }

    /// A customer deleted, no longer active, or with another role or password: their
    /// credentials are revoked (open sockets close).
    fn events(before: Option<&customers::Model>, after: Option<&customers::Model>) -> Vec<Event> {
        let revoked = match (before, after) {
            (Some(_), None) => true,
            (Some(b), Some(a)) => {
                let active = AccountState::admits(a.status.as_deref());
                (!active && b.status != a.status)
                    || b.role != a.role
                    || b.password_hash != a.password_hash
            }
            _ => false,
        };
        before
            .filter(|_| revoked)
            .map(|b| Revocation::customer(b.id))
            .into_iter()
            .collect()
    }
}

/// Tables whose rows have no rules beyond their constraints.
macro_rules! plain_lifecycle {
    ($($module:ident),+ $(,)?) => {
        $(impl Lifecycle for entity::$module::Entity {})+
    };
}

plain_lifecycle!(
    system_configs,
    gpus,
    port_mappings,
    datasets,
    dataset_versions,
    models,
    model_versions,
    images,
);

/// Sign-up, sign-in and tokens.
pub mod auth {
    use chrono::{Duration, NaiveDateTime, Utc};
    use entity::{customers, refresh_tokens};
    use sea_orm::sea_query::Expr;
    use sea_orm::{
        ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
        QueryFilter, Set, TransactionTrait,
    };

    use crate::auth::jwt::JwtKeys;
    use crate::auth::policy::{self, Policy};
    use crate::auth::tokens::{random_token, sha256_hex, REFRESH_PREFIX};
    use crate::auth::User;
    use crate::config::AuthSettings;
    use crate::domain::{AccountKind, AccountRole, AccountState, Email, Password, Username};
    use crate::error::{AppError, AppResult};
    use crate::events::{EventBus, Revocation};
    use crate::services::{crud, db, password};

    /// What sign-in returns.
    #[derive(Debug)]
    pub struct Session {
        pub customer: customers::Model,
        pub access_token: String,
        /// Seconds since the epoch.
        pub access_expires_at: i64,
        pub refresh_token: String,
    }

    /// A new account, parsed.
    pub struct NewAccount {
        pub username: Username,
        pub email: Email,
        pub password: Password,
        pub phone: Option<String>,
        pub full_name: Option<String>,
        pub company: Option<String>,
        /// `None`: the column's default.
        pub account_type: Option<AccountKind>,
    }

    impl NewAccount {
        /// An account with nothing but its credentials.
        pub fn parse(username: &str, email: &str, password: &str) -> AppResult<Self> {
            Ok(Self {
                username: Username::parse("username", username)?,
                email: Email::parse("email", email)?,
                password: Password::parse("password", password)?,
                phone: None,
                full_name: None,
                company: None,
                account_type: None,
            })
        }
    }

    fn invalid_credentials() -> AppError {
        AppError::Unauthenticated
    }

    /// The row of a new account, without its password hash.
    fn account_row(account: &NewAccount, role: AccountRole) -> customers::ActiveModel {
        let mut row = customers::ActiveModel {
            uuid: Set(format!("cust-{}", uuid::Uuid::new_v4().simple())),
            username: Set(account.username.clone().into_string()),
            email: Set(account.email.clone().into_string()),
            phone: Set(account.phone.clone()),
            full_name: Set(account.full_name.clone()),
            company: Set(account.company.clone()),
            role: Set(role.as_db().into()),
            ..Default::default()
        };
        if let Some(kind) = account.account_type {
            row.account_type = Set(Some(kind.as_db().into()));
        }
        row
    }

    /// The one way an account is created: the password hashed with Argon2id on the blocking
    /// pool (behind `services::password`'s permits), then the row inserted. Username and
    /// e-mail uniqueness are the database's: a taken one is CONFLICT. Accounts have no
    /// insert hooks and publish nothing.
    async fn insert_account(
        db: &DatabaseConnection,
        mut row: customers::ActiveModel,
        password: Password,
    ) -> AppResult<customers::Model> {
        row.password_hash = Set(password::hash_blocking(password).await?);
        let _writer = db::write_guard(db).await;
        Ok(row.insert(db).await?)
    }

    /// Sign-up (`register`), the bootstrap admin and `remotegpu admin create`: an account
    /// with `role`.
    pub async fn register(
        db: &DatabaseConnection,
        account: NewAccount,
        role: AccountRole,
    ) -> AppResult<customers::Model> {
        let row = account_row(&account, role);
        insert_account(db, row, account.password).await
    }

    /// An account an operator creates (`createCustomer`): the customers' insert rule decides
    /// who may, before anything is hashed.
    pub async fn create_customer(
        db: &DatabaseConnection,
        user: User,
        account: NewAccount,
    ) -> AppResult<customers::Model> {
        let mut row = account_row(&account, AccountRole::Customer);
        customers::Entity::authorize_insert(user, &mut row, db).await?;
        insert_account(db, row, account.password).await
    }

    /// What a customer changes about themselves: `None` keeps a field, `Some(None)` clears it.
    #[derive(Debug, Default)]
    pub struct ProfileChange {
        pub phone: Option<Option<String>>,
        pub full_name: Option<Option<String>>,
        pub company: Option<Option<String>>,
    }

    /// Updates the signed-in customer's own profile ([`policy::own_profile`]).
    pub async fn update_profile(
        db: &DatabaseConnection,
        bus: &dyn EventBus,
        user: User,
        change: ProfileChange,
    ) -> AppResult<customers::Model> {
        crud::update::<customers::Entity, _>(
            db,
            bus,
            user.id,
            "customer",
            policy::own_profile(user),
            move |row| {
                if let Some(v) = change.phone {
                    row.phone = Set(v);
                }
                if let Some(v) = change.full_name {
                    row.full_name = Set(v);
                }
                if let Some(v) = change.company {
                    row.company = Set(v);
                }
                Ok(())
            },
        )
        .await
    }

    /// Creates the bootstrap admin unless a customer with that username exists.
    pub async fn ensure_admin(
        db: &DatabaseConnection,
        username: &str,
        email: &str,
        password: &str,
    ) -> AppResult<()> {
        let exists = customers::Entity::find()
            .filter(customers::Column::Username.eq(username))
            .one(db)
            .await?;
        if exists.is_none() {
            let account = NewAccount::parse(username, email, password)?;
            let admin = register(db, account, AccountRole::Admin).await?;
            tracing::info!(customer_id = admin.id, "bootstrap admin created");
        }
        Ok(())
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
        let _writer = crate::services::db::write_guard(db).await;
        let txn = db.begin().await?;
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

    async fn revoke_family(db: &impl ConnectionTrait, family: &str) -> AppResult<()> {
        refresh_tokens::Entity::update_many()
            .col_expr(
                refresh_tokens::Column::RevokedAt,
                Expr::value(Utc::now().naive_utc()),
            )
            .filter(refresh_tokens::Column::Family.eq(family))
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .exec(db)
            .await?;
        Ok(())
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
        customer_id: i64,
        current: &str,
        new: &str,
    ) -> AppResult<()> {
        let new = Password::parse("newPassword", new)?;
        let customer = customers::Entity::find_by_id(customer_id)
            .one(db)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if !password::verify_blocking(current, &customer.password_hash).await {
            return Err(AppError::bad_input("currentPassword: incorrect"));
        }
        let hash = password::hash_blocking(new).await?;
        let _writer = crate::services::db::write_guard(db).await;
        let txn = db.begin().await?;
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
        refresh_tokens::Entity::update_many()
            .col_expr(
                refresh_tokens::Column::RevokedAt,
                Expr::value(Utc::now().naive_utc()),
            )
            .filter(refresh_tokens::Column::CustomerId.eq(customer_id))
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        txn.commit().await?;
        bus.publish(vec![Revocation::customer(customer_id)]).await;
        Ok(())
    }
}
