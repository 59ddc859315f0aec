//! Billing: the price book, billing records and invoices (written by metering,
//! `services::metering` and `services::invoices`), spend limits and live spend. Money is
//! `Decimal` (a string on the wire) with four decimal places; no float touches it.

use async_graphql::{
    ComplexObject, Context, Enum, InputObject, Object, SimpleObject, Subscription, ID,
};
use chrono::{DateTime, Utc};
use entity::{billing_records as br, customers, invoices, prices, workspaces};
use futures_util::stream::BoxStream;
use rust_decimal::Decimal;

use super::crud::{principal, state};
use super::live::{deliver, require_readable};
use super::scalars::BigInt;
use crate::auth::policy::{self, user_for};
use crate::domain::{BillingAccount, InvoiceState, Money};
use crate::error::AppError;
use crate::events::{Event, Key, Kind, SpendUpdate, Topic};
use crate::services::{invoices as invoice_service, prices as price_service, spend};

use super::accounts::Customer;
use super::convert::{fk, id, money, ts, ts_opt};
use super::crud::{crud_query, load_many, load_opt, load_parent, ApiObject};
use super::enums::*;
use super::environments::Environment;
use super::filter::{
    filter_input, order_input, DateTimeFilter, EnumFilter, IdFilter, StringFilter,
};
use super::relations::*;
use crate::error::AppResult;
use crate::error::GqlResult;

/// Metered use of one resource by one customer over a time span.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct BillingRecord {
    pub id: ID,
    pub customer_id: ID,
    #[graphql(skip)]
    pub customer_key: i64,
    pub env_id: Option<ID>,
    pub invoice_id: Option<ID>,
    #[graphql(skip)]
    pub invoice_key: Option<i64>,
    pub resource_type: ResourceType,
    pub quantity: f64,
    pub unit_price: Decimal,
    pub amount: Decimal,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub created_at: Option<DateTime<Utc>>,
    /// The workspace billed, when the environment ran in one.
    pub workspace_id: Option<ID>,
    /// For GPU records: the GPU model priced.
    pub gpu_model: Option<String>,
    /// Seconds the environment ran in this hour.
    pub seconds: BigInt,
    /// The UTC hour this record meters.
    pub bucket_start: Option<DateTime<Utc>>,
}

#[ComplexObject]
impl BillingRecord {
    async fn customer(&self, ctx: &Context<'_>) -> async_graphql::Result<Customer> {
        load_parent::<CustomerById, _>(ctx, self.customer_key)
            .await
            .gql()
    }
    async fn environment(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Environment>> {
        let key = self.env_id.as_ref().map(|id| id.to_string());
        load_opt::<EnvironmentById, _>(ctx, key).await.gql()
    }
    async fn invoice(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Invoice>> {
        load_opt::<InvoiceById, _>(ctx, self.invoice_key)
            .await
            .gql()
    }
}

impl ApiObject for BillingRecord {
    type Entity = br::Entity;
    const LABEL: &'static str = "billing record";
    fn from_model(m: br::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            customer_id: id(m.customer_id),
            customer_key: m.customer_id,
            env_id: m.env_id.map(id),
            invoice_id: m.invoice_id.map(id),
            invoice_key: m.invoice_id,
            resource_type: ResourceType::from_db(&m.resource_type)?,
            quantity: m.quantity,
            unit_price: money(m.unit_price),
            amount: money(m.amount),
            start_time: ts(m.start_time),
            end_time: ts(m.end_time),
            created_at: ts_opt(m.created_at),
            workspace_id: m.workspace_id.map(id),
            gpu_model: m.gpu_model,
            seconds: BigInt(m.seconds),
            bucket_start: ts_opt(m.bucket_start),
        })
    }
}

filter_input!(BillingRecordFilter for br {
    id: IdFilter => Id as i64,
    customer_id: IdFilter => CustomerId as i64,
    env_id: IdFilter => EnvId as String,
    invoice_id: IdFilter => InvoiceId as i64,
    workspace_id: IdFilter => WorkspaceId as i64,
    resource_type: EnumFilter<ResourceType> => ResourceType,
    start_time: DateTimeFilter => StartTime,
});

order_input!(BillingRecordOrder, BillingRecordOrderField, br::Entity, br::Column {
    Id => Id,
    StartTime => StartTime,
    Amount => Amount,
});

crud_query!(BillingRecordQuery {
    object: BillingRecord,
    one: billing_record,
    many: billing_records,
    filter: BillingRecordFilter,
    order: BillingRecordOrder,
});

/// A customer's bill for a period, grouping billing records.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Invoice {
    pub id: ID,
    #[graphql(skip)]
    pub key: i64,
    pub invoice_no: String,
    pub customer_id: ID,
    #[graphql(skip)]
    pub customer_key: i64,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub subtotal: Decimal,
    pub tax: Decimal,
    pub total_amount: Decimal,
    pub currency: Option<String>,
    pub status: Option<InvoiceStatus>,
    pub issued_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// The workspace billed, or null for the customer's own environments.
    pub workspace_id: Option<ID>,
    /// The tax rate applied (a fraction: 0.0600 is 6%).
    pub tax_rate: Decimal,
}

#[ComplexObject]
impl Invoice {
    async fn customer(&self, ctx: &Context<'_>) -> async_graphql::Result<Customer> {
        load_parent::<CustomerById, _>(ctx, self.customer_key)
            .await
            .gql()
    }
    #[graphql(complexity = "crate::graphql::pagination::fan_out(50, child_complexity)")]
    async fn billing_records(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<BillingRecord>> {
        load_many::<RecordsOfInvoice, _>(ctx, self.key).await.gql()
    }
}

impl ApiObject for Invoice {
    type Entity = invoices::Entity;
    const LABEL: &'static str = "invoice";
    fn from_model(m: invoices::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            key: m.id,
            invoice_no: m.invoice_no,
            customer_id: id(m.customer_id),
            customer_key: m.customer_id,
            period_start: ts(m.period_start),
            period_end: ts(m.period_end),
            subtotal: money(m.subtotal),
            tax: money(m.tax),
            total_amount: money(m.total_amount),
            currency: m.currency,
            status: InvoiceStatus::from_db_opt(m.status.as_deref())?,
            issued_at: ts_opt(m.issued_at),
            due_at: ts_opt(m.due_at),
            paid_at: ts_opt(m.paid_at),
            created_at: ts_opt(m.created_at),
            updated_at: ts_opt(m.updated_at),
            workspace_id: m.workspace_id.map(id),
            tax_rate: m.tax_rate.0,
        })
    }
}

filter_input!(InvoiceFilter for invoices {
    id: IdFilter => Id as i64,
    invoice_no: StringFilter => InvoiceNo,
    customer_id: IdFilter => CustomerId as i64,
    workspace_id: IdFilter => WorkspaceId as i64,
    status: EnumFilter<InvoiceStatus> => Status,
    period_start: DateTimeFilter => PeriodStart,
});

order_input!(InvoiceOrder, InvoiceOrderField, invoices::Entity, invoices::Column {
    Id => Id,
    PeriodStart => PeriodStart,
    TotalAmount => TotalAmount,
    CreatedAt => CreatedAt,
});

crud_query!(InvoiceQuery {
    object: Invoice,
    one: invoice,
    many: invoices,
    filter: InvoiceFilter,
    order: InvoiceOrder,
});

/// The price per hour of one resource from `effectiveFrom` on.
#[derive(SimpleObject)]
pub struct Price {
    pub id: ID,
    pub resource_type: ResourceType,
    /// For GPU prices: the GPU model (`gpus.name`), or `*` for any model without its own.
    pub gpu_model: Option<String>,
    /// Per GPU-hour, core-hour or GiB-hour.
    pub unit_price: Decimal,
    pub effective_from: DateTime<Utc>,
    pub created_at: Option<DateTime<Utc>>,
}

impl ApiObject for Price {
    type Entity = prices::Entity;
    const LABEL: &'static str = "price";
    fn from_model(m: prices::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            resource_type: ResourceType::from_db(&m.resource_type)?,
            gpu_model: Some(m.gpu_model).filter(|g| !g.is_empty()),
            unit_price: money(m.unit_price),
            effective_from: ts(m.effective_from),
            created_at: ts_opt(m.created_at),
        })
    }
}

filter_input!(PriceFilter for prices {
    id: IdFilter => Id as i64,
    resource_type: EnumFilter<ResourceType> => ResourceType,
    gpu_model: StringFilter => GpuModel,
    effective_from: DateTimeFilter => EffectiveFrom,
});

order_input!(PriceOrder, PriceOrderField, prices::Entity, prices::Column {
    Id => Id,
    EffectiveFrom => EffectiveFrom,
});

crud_query!(PriceQuery {
    object: Price,
    one: price,
    many: prices,
    filter: PriceFilter,
    order: PriceOrder,
});

/// A new price (operators).
#[derive(InputObject)]
pub struct SetPriceInput {
    pub resource_type: ResourceType,
    /// GPU prices: a GPU model as `gpus.name` reports it, or `*` for any other model.
    pub gpu_model: Option<String>,
    /// Per hour, at most 4 decimal places and 999,999.9999.
    pub unit_price: Decimal,
    /// A whole UTC hour in the future.
    pub effective_from: DateTime<Utc>,
}

/// Where an account stands against its monthly limit.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum SpendAlert {
    None,
    /// At least 80% of the limit.
    Warning,
    /// The limit is reached: running environments are stopped, new ones refused.
    LimitReached,
}

impl SpendAlert {
    fn parse(raw: &str) -> Self {
        match raw {
            "warning" => Self::Warning,
            "limit_reached" => Self::LimitReached,
            _ => Self::None,
        }
    }
}

impl From<spend::Alert> for SpendAlert {
    fn from(a: spend::Alert) -> Self {
        Self::parse(a.as_str())
    }
}

/// A billing account's spend in the current month (UTC).
#[derive(SimpleObject)]
pub struct AccountSpend {
    /// `customer:<id>` or `workspace:<id>`.
    pub account: String,
    /// `YYYY-MM`.
    pub month: String,
    /// Metered hours plus the time running since the last metered hour.
    pub spend_this_month: Decimal,
    pub spend_limit: Option<Decimal>,
    pub alert: SpendAlert,
    pub at: DateTime<Utc>,
}

impl AccountSpend {
    pub fn from_standing(s: spend::Standing) -> Self {
        Self {
            account: s.account.key(),
            month: s.month,
            spend_this_month: money(s.spend),
            spend_limit: s.limit.map(money),
            alert: s.alert.into(),
            at: Utc::now(),
        }
    }

    fn from_update(u: &SpendUpdate) -> AppResult<Self> {
        let dec = |v: &str| {
            v.parse::<Decimal>()
                .map(money)
                .map_err(|e| AppError::internal(format!("spend update: {e}")))
        };
        Ok(Self {
            account: u.account.clone(),
            month: u.month.clone(),
            spend_this_month: dec(&u.spend)?,
            spend_limit: u.limit.as_deref().map(dec).transpose()?,
            alert: SpendAlert::parse(&u.alert),
            at: u.at,
        })
    }
}

/// The account a spend operation names: a workspace, a customer (operators: anyone), or
/// the caller.
fn account(
    user: crate::auth::User,
    workspace_id: Option<ID>,
    customer_id: Option<ID>,
) -> AppResult<BillingAccount> {
    match (workspace_id, customer_id) {
        (Some(_), Some(_)) => Err(AppError::bad_input(
            "name a workspaceId or a customerId, not both",
        )),
        (Some(w), None) => Ok(BillingAccount::Workspace(fk("workspaceId", &w)?)),
        (None, Some(c)) => Ok(BillingAccount::Customer(fk("customerId", &c)?)),
        (None, None) => Ok(BillingAccount::Customer(user.id)),
    }
}

#[derive(Default)]
pub struct BillingMutation;

#[Object]
impl BillingMutation {
    /// Operators: a price per hour from a whole future UTC hour on. Hours already run keep
    /// their price.
    async fn set_price(
        &self,
        ctx: &Context<'_>,
        input: SetPriceInput,
    ) -> async_graphql::Result<Price> {
        let user = user_for::<prices::Entity>(&principal(ctx)).gql()?;
        policy::require_operator(user).gql()?;
        let price = price_service::NewPrice {
            resource: input.resource_type.into(),
            gpu_model: input.gpu_model,
            unit_price: Money::parse("unitPrice", input.unit_price, Money::RECORD_DIGITS).gql()?,
            effective_from: input.effective_from.naive_utc(),
        };
        let row = price_service::set_price(&state(ctx).db, price, Utc::now().naive_utc())
            .await
            .gql()?;
        Price::from_model(row).gql()
    }

    /// Operators: an issued invoice was paid. Anything but an issued invoice is CONFLICT.
    async fn mark_invoice_paid(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Invoice> {
        settle(ctx, id, InvoiceState::Paid).await
    }

    /// Operators: an issued invoice is void. Anything but an issued invoice is CONFLICT.
    async fn void_invoice(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Invoice> {
        settle(ctx, id, InvoiceState::Void).await
    }

    /// Sets (or with `limit: null` removes) a monthly spend limit: your own (operators:
    /// any customer's) or a workspace's (its OWNER or ADMIN). Checked at once: at 80% the
    /// account is flagged, at 100% its running environments stop and new ones are
    /// FORBIDDEN with `extensions.reason = "SPEND_LIMIT"`.
    async fn set_spend_limit(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        customer_id: Option<ID>,
        limit: Option<Decimal>,
    ) -> async_graphql::Result<AccountSpend> {
        let user = user_for::<customers::Entity>(&principal(ctx)).gql()?;
        let account = account(user, workspace_id, customer_id).gql()?;
        let limit = limit
            .map(|l| Money::parse("limit", l, Money::TOTAL_DIGITS))
            .transpose()
            .gql()?;
        let app = state(ctx);
        let standing = crate::services::environments::set_spend_limit(
            &app.db,
            app.events.as_ref(),
            user,
            account,
            limit,
        )
        .await
        .gql()?;
        Ok(AccountSpend::from_standing(standing))
    }
}

async fn settle(ctx: &Context<'_>, id: ID, to: InvoiceState) -> async_graphql::Result<Invoice> {
    let user = user_for::<invoices::Entity>(&principal(ctx)).gql()?;
    policy::require_operator(user).gql()?;
    let key = id
        .parse::<i64>()
        .map_err(|_| AppError::NotFound("invoice"))
        .gql()?;
    let row = invoice_service::settle(&state(ctx).db, key, to, Utc::now().naive_utc())
        .await
        .gql()?;
    Invoice::from_model(row).gql()
}

/// The spend of an account the caller may see (null otherwise).
pub async fn spend_of(
    ctx: &Context<'_>,
    account: BillingAccount,
) -> async_graphql::Result<Option<AccountSpend>> {
    let user = principal(ctx).user().gql()?;
    if let BillingAccount::Customer(id) = account {
        if !policy::may_read_customer_spend(user, id) {
            return Ok(None);
        }
    }
    let standing = spend::standing(&state(ctx).db, account, Utc::now().naive_utc())
        .await
        .gql()?;
    Ok(Some(AccountSpend::from_standing(standing)))
}

#[derive(Default)]
pub struct BillingSubscription;

#[Subscription]
impl BillingSubscription {
    /// An account's spend as metering advances (every pass while something runs, at least
    /// once a minute) and when a limit is crossed or changed: your own, a workspace's you
    /// are a member of, or (operators) any customer's.
    async fn spend_updates(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        customer_id: Option<ID>,
    ) -> async_graphql::Result<BoxStream<'static, AccountSpend>> {
        let user = principal(ctx).user().gql()?;
        let account = account(user, workspace_id, customer_id).gql()?;
        let app = state(ctx);
        let topic = Topic::new(Kind::Spend, Key::Account(account.key()));
        let show = |event: &Event| match event {
            Event::Spend(u) => Some(AccountSpend::from_update(u)),
            _ => None,
        };
        // Each update is checked against the account's row, so a membership that ends
        // ends the updates.
        Ok(match account {
            BillingAccount::Customer(id) => {
                if !policy::may_read_customer_spend(user, id) {
                    return Err(AppError::NotFound("customer")).gql();
                }
                require_readable::<customers::Entity>(&app.db, user, id, "customer")
                    .await
                    .gql()?;
                deliver::<customers::Entity, _, _>(app, user, topic, move |e| {
                    show(e).map(|o| (id, o))
                })
            }
            BillingAccount::Workspace(id) => {
                require_readable::<workspaces::Entity>(&app.db, user, id, "workspace")
                    .await
                    .gql()?;
                deliver::<workspaces::Entity, _, _>(app, user, topic, move |e| {
                    show(e).map(|o| (id, o))
                })
            }
        })
    }
}
