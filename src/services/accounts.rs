//! Customer accounts: sign-up, the bootstrap admin and operator-created accounts (one
//! insert path, the password hashed on the blocking pool), a customer's own profile, and what
//! a customer's deletion or change of standing does: their memberships end the way leaving
//! does (`services::workspaces::release_customer`), so no other customer's workspace goes
//! with them, and their credentials are revoked. Sign-in, refresh and sessions are
//! `services::sessions`.

use entity::customers;
use futures_util::future::BoxFuture;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, Set,
};

use crate::auth::policy::{self, Policy};
use crate::auth::User;
use crate::db;
use crate::domain::{AccountKind, AccountRole, AccountState, Email, Password, Username};
use crate::error::AppResult;
use crate::events::{Event, EventBus, Revocation};
use crate::services::crud::{self, Lifecycle};
use crate::services::password;
use crate::services::workspaces::release_customer;

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
