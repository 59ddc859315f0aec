//! Live cost and cost guards.
//!
//! - Spend this month of an account = the records on its draft invoice of the month plus
//!   the time its environments ran since their last metered hour ([`metering::unmetered`]);
//!   an environment's cost so far likewise.
//! - A monthly spend limit per customer (their own environments) and per workspace (its
//!   environments). [`check`] runs every metering pass and right after a limit changes: at
//!   80% it sets `spend_warned_month` and publishes a [`SpendUpdate`] with `warning`; at 100%
//!   it sets `spend_limited_month` and names the account's live environments, which the
//!   lifecycle stops (`services::environments::enforce_spend_limit`: GPUs released,
//!   `stop_reason` recorded). While the flag is set for the current month, creating or
//!   starting an environment is FORBIDDEN with `extensions.reason = "SPEND_LIMIT"`
//!   ([`refuse_if_limited`]). Who may set a limit is `auth::policy`'s.

use chrono::{NaiveDateTime, Utc};
use entity::numeric::Numeric;
use entity::{
    billing_records as br, customers, environment_runs as runs, environments as env, invoices,
    workspaces,
};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Alias, Expr, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
};

use crate::auth::User;
use crate::db;
use crate::domain::{BillingAccount, EnvState, Money};
use crate::error::{AppError, AppResult, RefusalReason};
use crate::events::{Event, EventBus, SpendUpdate};
use crate::services::invoices::{month_key, month_of};
use crate::services::metering;
use crate::services::prices;

/// Where an account stands against its limit this month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    None,
    /// At least 80% of the limit.
    Warning,
    /// The limit is reached: environments stopped, new ones refused.
    LimitReached,
}

impl Alert {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Warning => "warning",
            Self::LimitReached => "limit_reached",
        }
    }

    pub fn of(spend: Decimal, limit: Option<Decimal>) -> Self {
        match limit {
            Some(l) if spend >= l => Self::LimitReached,
            Some(l) if spend * Decimal::from(5) >= l * Decimal::from(4) => Self::Warning,
            _ => Self::None,
        }
    }
}

/// An account's spend, limit and flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub account: BillingAccount,
    pub month: String,
    pub spend: Decimal,
    pub limit: Option<Decimal>,
    pub alert: Alert,
}

fn account_runs(account: BillingAccount) -> Condition {
    match account {
        BillingAccount::Customer(id) => Condition::all()
            .add(runs::Column::CustomerId.eq(id))
            .add(runs::Column::WorkspaceId.is_null()),
        BillingAccount::Workspace(id) => Condition::all().add(runs::Column::WorkspaceId.eq(id)),
    }
}

fn unmetered_runs() -> Condition {
    Condition::any()
        .add(runs::Column::EndedAt.is_null())
        .add(runs::Column::MeteredUntil.is_null())
        .add(Expr::col(runs::Column::MeteredUntil).lt(Expr::col(runs::Column::EndedAt)))
}

/// The account's spend in `now`'s month, exact.
pub async fn this_month(
    db: &impl ConnectionTrait,
    account: BillingAccount,
    now: NaiveDateTime,
) -> AppResult<Decimal> {
    let (month, _) = month_of(now);
    let draft = invoices::Entity::find()
        .filter(invoices::Column::BilledTo.eq(account.key()))
        .filter(invoices::Column::PeriodStart.eq(month))
        .one(db)
        .await?;
    let metered: Decimal = match draft {
        Some(d) => crate::services::invoices::record_amounts(db, d.id)
            .await?
            .into_iter()
            .sum(),
        None => Decimal::ZERO,
    };
    let live = runs::Entity::find()
        .filter(account_runs(account))
        .filter(unmetered_runs())
        .all(db)
        .await?;
    let book = prices::price_book(db).await?;
    Ok(metered + metering::unmetered(&live, &book, now))
}

/// An environment's cost so far: its records plus its unmetered time.
pub async fn cost_so_far(
    db: &impl ConnectionTrait,
    env_id: &str,
    now: NaiveDateTime,
) -> AppResult<Decimal> {
    let metered: Decimal = br::Entity::find()
        .filter(br::Column::EnvId.eq(env_id))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.amount.0)
        .sum();
    let live = runs::Entity::find()
        .filter(runs::Column::EnvId.eq(env_id))
        .filter(unmetered_runs())
        .all(db)
        .await?;
    if live.is_empty() {
        return Ok(metered);
    }
    let book = prices::price_book(db).await?;
    Ok(metered + metering::unmetered(&live, &book, now))
}

/// The limit and the flags of an account.
struct Flags {
    limit: Option<Decimal>,
    warned: Option<String>,
    limited: Option<String>,
}

async fn flags(db: &impl ConnectionTrait, account: BillingAccount) -> AppResult<Flags> {
    Ok(match account {
        BillingAccount::Customer(id) => {
            let c = customers::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or(AppError::NotFound("customer"))?;
            Flags {
                limit: c.spend_limit.map(|n| n.0),
                warned: c.spend_warned_month,
                limited: c.spend_limited_month,
            }
        }
        BillingAccount::Workspace(id) => {
            let w = workspaces::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or(AppError::NotFound("workspace"))?;
            Flags {
                limit: w.spend_limit.map(|n| n.0),
                warned: w.spend_warned_month,
                limited: w.spend_limited_month,
            }
        }
    })
}

/// The account's standing now.
pub async fn standing(
    db: &impl ConnectionTrait,
    account: BillingAccount,
    now: NaiveDateTime,
) -> AppResult<Standing> {
    let f = flags(db, account).await?;
    standing_with(db, account, &f, now).await
}

async fn standing_with(
    db: &impl ConnectionTrait,
    account: BillingAccount,
    f: &Flags,
    now: NaiveDateTime,
) -> AppResult<Standing> {
    let spend = this_month(db, account, now).await?;
    Ok(Standing {
        account,
        month: month_key(now),
        spend,
        limit: f.limit,
        alert: Alert::of(spend, f.limit),
    })
}

/// FORBIDDEN (`SPEND_LIMIT`) while the account of a new or restarted environment has
/// reached its limit this month.
pub async fn refuse_if_limited(
    db: &impl ConnectionTrait,
    customer: i64,
    workspace: Option<i64>,
) -> AppResult<()> {
    let account = BillingAccount::of(customer, workspace);
    let f = flags(db, account).await?;
    let month = month_key(Utc::now().naive_utc());
    if f.limit.is_some() && f.limited.as_deref() == Some(month.as_str()) {
        let whose = match account {
            BillingAccount::Customer(_) => "your",
            BillingAccount::Workspace(_) => "the workspace's",
        };
        return Err(AppError::Refused {
            reason: RefusalReason::SpendLimit,
            message: format!(
                "{whose} monthly spend limit is reached; raise it or wait for next month"
            ),
        });
    }
    Ok(())
}

/// Sets (or with `None` removes) an account's monthly limit, then checks it at once.
/// A customer sets their own (operators anyone's); a workspace's is set by its owners and
/// admins (a viewer or member is FORBIDDEN; a workspace one is not in is NOT_FOUND).
pub async fn set_limit(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    user: User,
    account: BillingAccount,
    limit: Option<Money>,
) -> AppResult<Checked> {
    crate::auth::policy::authorize_spend_limit(db, user, account).await?;
    let changed = {
        let _writer = db::write_guard(db).await;
        update_account(
            db,
            account,
            vec![
                ("spend_limit", Expr::value(limit.map(|m| Numeric(m.get())))),
                ("spend_warned_month", Expr::value(Option::<String>::None)),
                ("spend_limited_month", Expr::value(Option::<String>::None)),
            ],
        )
        .await?
    };
    if changed == 0 {
        return Err(match account {
            BillingAccount::Customer(_) => AppError::NotFound("customer"),
            BillingAccount::Workspace(_) => AppError::NotFound("workspace"),
        });
    }
    check(db, bus, account, Utc::now().naive_utc()).await
}

fn update(account: BillingAccount, standing: &Standing) -> SpendUpdate {
    SpendUpdate {
        account: account.key(),
        month: standing.month.clone(),
        spend: standing.spend.to_string(),
        limit: standing.limit.map(|l| l.to_string()),
        alert: standing.alert.as_str().to_owned(),
        at: Utc::now(),
    }
}

/// Updates the account's row: the spend columns have the same names in `customers` and
/// `workspaces`. Returns the rows changed.
async fn update_account(
    db: &impl ConnectionTrait,
    account: BillingAccount,
    values: Vec<(&'static str, SimpleExpr)>,
) -> AppResult<u64> {
    let (table, id) = match account {
        BillingAccount::Customer(id) => ("customers", id),
        BillingAccount::Workspace(id) => ("workspaces", id),
    };
    let mut update = Query::update();
    update
        .table(Alias::new(table))
        .and_where(Expr::col(Alias::new("id")).eq(id));
    for (column, value) in values {
        update.value(Alias::new(column), value);
    }
    let backend = db.get_database_backend();
    Ok(db.execute(backend.build(&update)).await?.rows_affected())
}

async fn set_flag(
    db: &DatabaseConnection,
    account: BillingAccount,
    limited: bool,
    month: &str,
) -> AppResult<()> {
    let _writer = db::write_guard(db).await;
    let column = if limited {
        "spend_limited_month"
    } else {
        "spend_warned_month"
    };
    update_account(db, account, vec![(column, Expr::value(month))]).await?;
    Ok(())
}

/// What [`check`] found for one account: its standing, and at 100% of its limit the live
/// environments the platform is to stop (the billing job asks the lifecycle) and why.
#[derive(Debug, Clone)]
pub struct Checked {
    pub standing: Standing,
    pub to_stop: Vec<String>,
    pub reason: String,
}

/// Checks one account against its limit at `now`: flags, events, and at 100% the
/// environments to stop. Publishes the account's standing.
pub async fn check(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    account: BillingAccount,
    now: NaiveDateTime,
) -> AppResult<Checked> {
    let f = flags(db, account).await?;
    let standing = standing_with(db, account, &f, now).await?;
    let month = standing.month.as_str();
    if standing.alert != Alert::None && f.warned.as_deref() != Some(month) {
        set_flag(db, account, false, month).await?;
    }
    let mut to_stop = Vec::new();
    if standing.alert == Alert::LimitReached {
        if f.limited.as_deref() != Some(month) {
            set_flag(db, account, true, month).await?;
        }
        to_stop = env::Entity::find()
            .filter(match account {
                BillingAccount::Customer(id) => Condition::all()
                    .add(env::Column::CustomerId.eq(id))
                    .add(env::Column::WorkspaceId.is_null()),
                BillingAccount::Workspace(id) => {
                    Condition::all().add(env::Column::WorkspaceId.eq(id))
                }
            })
            .filter(env::Column::Status.is_in(
                [EnvState::Creating, EnvState::Starting, EnvState::Running].map(EnvState::as_db),
            ))
            .all(db)
            .await?
            .into_iter()
            .map(|row| row.id)
            .collect();
    }
    let reason = format!(
        "stopped: the monthly spend limit of {} was reached",
        standing.limit.unwrap_or_default()
    );
    bus.publish(vec![Event::Spend(update(account, &standing))])
        .await;
    Ok(Checked {
        standing,
        to_stop,
        reason,
    })
}

/// The accounts to look at in a pass: those with a limit, and those with something running.
pub async fn accounts_to_check(db: &impl ConnectionTrait) -> AppResult<Vec<BillingAccount>> {
    let mut accounts: Vec<BillingAccount> = Vec::new();
    for c in customers::Entity::find()
        .filter(customers::Column::SpendLimit.is_not_null())
        .all(db)
        .await?
    {
        accounts.push(BillingAccount::Customer(c.id));
    }
    for w in workspaces::Entity::find()
        .filter(workspaces::Column::SpendLimit.is_not_null())
        .all(db)
        .await?
    {
        accounts.push(BillingAccount::Workspace(w.id));
    }
    for r in runs::Entity::find()
        .filter(runs::Column::EndedAt.is_null())
        .all(db)
        .await?
    {
        accounts.push(BillingAccount::of(r.customer_id, r.workspace_id));
    }
    accounts.sort();
    accounts.dedup();
    Ok(accounts)
}
