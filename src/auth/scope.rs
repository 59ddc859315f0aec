//! The vocabulary access rules are written in, apart from the rules themselves
//! (`auth::policy`): a [`Scope`] of rows, the [`Policy`] every table implements, the
//! [`Access`] a caller has to a table's rows, and the checks built on them
//! ([`require_writable`], [`user_for`]). Nothing here decides who may do what.

use futures_util::future::BoxFuture;
use sea_orm::sea_query::{Condition, Expr, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, QueryTrait, Value,
};

use super::User;
use crate::error::{AppError, AppResult};

/// What a caller may do with a table's rows: `read` and `write` are WHERE conditions
/// (from `auth::policy`).
#[derive(Debug, Clone)]
pub struct Access {
    pub read: Condition,
    pub write: Condition,
}

impl Access {
    /// Unrestricted: for the server's own processes and agents acting on their host.
    pub fn system() -> Self {
        Self {
            read: Condition::all(),
            write: Condition::all(),
        }
    }
}

/// Rows a rule admits.
#[derive(Debug, Clone)]
pub enum Scope {
    All,
    Nothing,
    Only(Condition),
}

impl Scope {
    /// As a WHERE condition (`Nothing` is a condition no row meets).
    pub fn condition(self) -> Condition {
        match self {
            Scope::All => Condition::all(),
            Scope::Nothing => Condition::all().add(Expr::value(false)),
            Scope::Only(c) => c,
        }
    }

    pub(crate) fn for_user(u: User, rule: impl FnOnce() -> Scope) -> Scope {
        if u.admin {
            Scope::All
        } else {
            rule()
        }
    }
}

pub trait Policy: EntityTrait {
    /// Tables that are the operators' alone (infrastructure, remote commands): customers
    /// asking for them directly get FORBIDDEN rather than an empty answer. Relations into
    /// them still just come back empty.
    const OPERATORS_ONLY: bool = false;

    /// Required: every table decides who reads it.
    fn readable(u: User) -> Scope;

    /// Who changes rows; by default operators only.
    fn writable(u: User) -> Scope {
        admin_only(u)
    }

    /// Who deletes rows; by default whoever may change them.
    fn deletable(u: User) -> Scope {
        Self::writable(u)
    }

    /// Checks (and completes) a new row; by default only operators create rows.
    fn authorize_insert<'a>(
        u: User,
        _row: &'a mut Self::ActiveModel,
        _db: &'a DatabaseConnection,
    ) -> BoxFuture<'a, AppResult<()>> {
        require_admin(u)
    }
}

/// The message for a parent that does not exist or that the caller may not see.
pub fn missing_reference() -> AppError {
    AppError::bad_input("a referenced record does not exist")
}

/// The signed-in user's access to `E`'s rows under `E`'s rule.
pub fn access<E: Policy>(u: User) -> Access {
    Access {
        read: E::readable(u).condition(),
        write: E::writable(u).condition(),
    }
}

/// The signed-in user's access to delete `E`'s rows: they read as always, and delete what
/// [`Policy::deletable`] admits.
pub fn delete_access<E: Policy>(u: User) -> Access {
    Access {
        read: E::readable(u).condition(),
        write: E::deletable(u).condition(),
    }
}

/// `column` of the rows of `E` that `u` may read.
pub(crate) fn readable_keys<E: Policy>(u: User, column: E::Column) -> SelectStatement {
    E::find()
        .select_only()
        .column(column)
        .filter(E::readable(u).condition())
        .into_query()
}

pub(crate) fn writable_keys<E: Policy>(u: User, column: E::Column) -> SelectStatement {
    E::find()
        .select_only()
        .column(column)
        .filter(E::writable(u).condition())
        .into_query()
}

pub(crate) fn admin_only(u: User) -> Scope {
    Scope::for_user(u, || Scope::Nothing)
}

pub(crate) fn require_admin(u: User) -> BoxFuture<'static, AppResult<()>> {
    Box::pin(async move {
        if u.admin {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    })
}

/// The row of `E` whose `column` is `value` may be written by `u`: a parent the caller may
/// only read is FORBIDDEN; one it cannot see is reported like one that does not exist.
pub async fn require_writable<E: Policy>(
    db: &impl ConnectionTrait,
    u: User,
    column: E::Column,
    value: impl Into<Value> + Clone,
) -> AppResult<()>
where
    E::Model: Sync,
{
    let count = |scope: Scope| {
        E::find()
            .filter(column.eq(value.clone()))
            .filter(scope.condition())
            .count(db)
    };
    if count(E::writable(u)).await? > 0 {
        Ok(())
    } else if count(E::readable(u)).await? > 0 {
        Err(AppError::Forbidden)
    } else {
        Err(missing_reference())
    }
}

/// The caller, allowed to use `E`'s queries and mutations at all.
pub fn user_for<E: Policy>(principal: &super::Principal) -> AppResult<User> {
    let user = principal.user()?;
    if E::OPERATORS_ONLY && !user.admin {
        return Err(AppError::Forbidden);
    }
    Ok(user)
}
