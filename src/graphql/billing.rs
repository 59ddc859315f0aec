//! Billing records and invoices: written by the billing process, read here. Money is
//! `Decimal` (a string on the wire) with four decimal places.

use async_graphql::{ComplexObject, Context, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::{billing_records as br, invoices};
use rust_decimal::Decimal;

use super::accounts::Customer;
use super::convert::{id, money, ts, ts_opt};
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
        })
    }
}

filter_input!(BillingRecordFilter for br {
    id: IdFilter => Id as i64,
    customer_id: IdFilter => CustomerId as i64,
    env_id: IdFilter => EnvId as String,
    invoice_id: IdFilter => InvoiceId as i64,
    resource_type: EnumFilter<ResourceType> => ResourceType,
    start_time: DateTimeFilter => StartTime,
});

order_input!(BillingRecordOrder, BillingRecordOrderField, br::Entity, br::Column {
    Id => Id,
    StartTime => StartTime,
    Amount => Amount,
});

crud_query!(
    BillingRecordQuery,
    BillingRecord,
    billing_record,
    billing_records,
    BillingRecordFilter,
    BillingRecordOrder
);

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
        })
    }
}

filter_input!(InvoiceFilter for invoices {
    id: IdFilter => Id as i64,
    invoice_no: StringFilter => InvoiceNo,
    customer_id: IdFilter => CustomerId as i64,
    status: EnumFilter<InvoiceStatus> => Status,
    period_start: DateTimeFilter => PeriodStart,
});

order_input!(InvoiceOrder, InvoiceOrderField, invoices::Entity, invoices::Column {
    Id => Id,
    PeriodStart => PeriodStart,
    TotalAmount => TotalAmount,
    CreatedAt => CreatedAt,
});

crud_query!(
    InvoiceQuery,
    Invoice,
    invoice,
    invoices,
    InvoiceFilter,
    InvoiceOrder
);
