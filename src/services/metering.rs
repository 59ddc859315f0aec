//! Metering: what environments ran, turned into billing records.
//!
//! The lifecycle ([`super::environments`]) opens an `environment_runs` row when an
//! environment becomes `running` and closes it when it leaves `running`, each with the
//! resources it held; times are whole seconds. Stopped time is therefore never billed.
//!
//! [`meter`] turns every closed UTC hour into one `billing_records` row per environment,
//! resource and hour: the seconds it ran in that hour (over all its runs in it), quantity in
//! resource-hours, the price in force at the hour's start ([`super::prices`]), and
//! `amount = units × seconds × unit_price / 3600` rounded once, half-even, to 4 places. A
//! unique key per (environment, resource, hour) makes a pass idempotent: running it twice,
//! or on two replicas at once, adds nothing. [`lines`] is the pure arithmetic; live figures
//! (cost so far, spend this month) use it for the hour that is still open.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDateTime, Timelike};
use entity::numeric::Numeric;
use entity::{billing_records as br, environment_runs as runs, environments as env, gpus};
use rust_decimal::{Decimal, RoundingStrategy};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, Set,
};

use crate::db;
use crate::domain::{BillingAccount, Money, Resource};
use crate::error::AppResult;
use crate::services::invoices;
use crate::services::prices::{self, PriceBook};

/// The start of the UTC hour `t` falls in.
pub fn hour_of(t: NaiveDateTime) -> NaiveDateTime {
    t.with_nanosecond(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_minute(0))
        .unwrap_or(t)
}

fn whole_second(t: NaiveDateTime) -> NaiveDateTime {
    t.with_nanosecond(0).unwrap_or(t)
}

/// One environment's use of one resource in one hour, priced.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub env_id: String,
    pub customer_id: i64,
    pub workspace_id: Option<i64>,
    pub resource: Resource,
    pub gpu_model: Option<String>,
    pub bucket_start: NaiveDateTime,
    /// The first and last second of the hour it ran.
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    /// Seconds it ran in the hour.
    pub seconds: i64,
    /// Resource-hours (GPUs, cores or GiB times hours).
    pub quantity: Decimal,
    /// Per resource-hour; zero when the price book has no price (see `priced`).
    pub unit_price: Decimal,
    pub amount: Decimal,
    pub priced: bool,
}

impl Line {
    pub fn account(&self) -> BillingAccount {
        BillingAccount::of(self.customer_id, self.workspace_id)
    }
}

const GIB: i64 = 1 << 30;

fn units(run: &runs::Model, resource: Resource) -> Decimal {
    match resource {
        Resource::Gpu => Decimal::from(run.gpu_count),
        Resource::Cpu => Decimal::from(run.cpu_cores),
        Resource::Memory => Decimal::from(run.memory_bytes) / Decimal::from(GIB),
    }
}

#[derive(Default)]
struct Acc {
    unit_seconds: Decimal,
    seconds: i64,
    start: Option<NaiveDateTime>,
    end: Option<NaiveDateTime>,
}

/// The priced lines of `runs` between `from` and `until` (a run still open counts up to
/// `until`), one per environment, resource and hour.
pub fn lines(
    runs: &[runs::Model],
    book: &PriceBook,
    from: NaiveDateTime,
    until: NaiveDateTime,
) -> Vec<Line> {
    // Keyed by environment, hour and the resource's place in `Resource::ALL`.
    let mut acc: BTreeMap<(String, NaiveDateTime, usize), (Acc, &runs::Model)> = BTreeMap::new();
    for run in runs {
        let start = run.started_at.max(from);
        let end = run.ended_at.unwrap_or(until).min(until);
        let mut bucket = hour_of(start);
        while bucket < end {
            let next = bucket + Duration::hours(1);
            let (s, e) = (start.max(bucket), end.min(next));
            let seconds = (e - s).num_seconds();
            if seconds > 0 {
                for (slot, &resource) in Resource::ALL.iter().enumerate() {
                    let units = units(run, resource);
                    if units.is_zero() {
                        continue;
                    }
                    let key = (run.env_id.clone(), bucket, slot);
                    let (a, _) = acc.entry(key).or_insert_with(|| (Acc::default(), run));
                    a.unit_seconds += units * Decimal::from(seconds);
                    a.seconds += seconds;
                    a.start = Some(a.start.map_or(s, |t| t.min(s)));
                    a.end = Some(a.end.map_or(e, |t| t.max(e)));
                }
            }
            bucket = next;
        }
    }
    let hour = Decimal::from(3600);
    acc.into_iter()
        .map(|((env_id, bucket, slot), (a, run))| {
            let resource = Resource::ALL[slot];
            let price = book.price(resource, run.gpu_model.as_deref(), bucket);
            let unit_price = price.unwrap_or_default();
            let amount = (a.unit_seconds * unit_price / hour)
                .round_dp_with_strategy(4, RoundingStrategy::MidpointNearestEven);
            Line {
                env_id,
                customer_id: run.customer_id,
                workspace_id: run.workspace_id,
                resource,
                gpu_model: run.gpu_model.clone().filter(|_| resource == Resource::Gpu),
                bucket_start: bucket,
                start: a.start.unwrap_or(bucket),
                end: a.end.unwrap_or(bucket),
                seconds: a.seconds,
                quantity: a.unit_seconds / hour,
                unit_price,
                amount,
                priced: price.is_some(),
            }
        })
        .collect()
}

/// Opens a run for an environment that just became `running` (inside the lifecycle's
/// transaction), with the resources it holds and the model of its GPUs.
pub async fn open_run(
    txn: &impl ConnectionTrait,
    row: &env::Model,
    gpu_uuids: &[String],
    at: NaiveDateTime,
) -> AppResult<()> {
    close_run(txn, &row.id, at).await?;
    let gpu_model = if gpu_uuids.is_empty() {
        None
    } else {
        gpus::Entity::find()
            .filter(gpus::Column::Uuid.is_in(gpu_uuids.iter().cloned()))
            .order_by_asc(gpus::Column::GpuIndex)
            .one(txn)
            .await?
            .and_then(|g| g.name)
    };
    let run = runs::ActiveModel {
        id: NotSet,
        env_id: Set(row.id.clone()),
        customer_id: Set(row.customer_id),
        workspace_id: Set(row.workspace_id),
        gpu_model: Set(gpu_model),
        gpu_count: Set(row.gpu.unwrap_or(0)),
        cpu_cores: Set(row.cpu),
        memory_bytes: Set(row.memory),
        started_at: Set(whole_second(at)),
        ended_at: Set(None),
        metered_until: Set(None),
    };
    runs::Entity::insert(run)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// Closes the environment's open run, if any (it left `running`).
pub async fn close_run(
    txn: &impl ConnectionTrait,
    env_id: &str,
    at: NaiveDateTime,
) -> AppResult<()> {
    runs::Entity::update_many()
        .col_expr(runs::Column::EndedAt, Expr::value(whole_second(at)))
        .filter(runs::Column::EnvId.eq(env_id))
        .filter(runs::Column::EndedAt.is_null())
        .exec(txn)
        .await?;
    Ok(())
}

/// Where a run's unmetered time starts.
fn metered_from(run: &runs::Model) -> NaiveDateTime {
    run.metered_until.unwrap_or_else(|| hour_of(run.started_at))
}

/// Whether `run` has an hour before `closed` without records yet.
fn needs_metering(run: &runs::Model, closed: NaiveDateTime) -> bool {
    let end = run.ended_at.map_or(closed, |e| e.min(closed));
    metered_from(run) < end
}

/// What a metering pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Metered {
    /// Records written (a repeated pass writes none).
    pub records: u64,
    /// Draft invoices that gained records.
    pub invoices: Vec<i64>,
}

/// Writes the records of every hour that closed by `now` and was not metered yet.
pub async fn meter(db: &DatabaseConnection, now: NaiveDateTime) -> AppResult<Metered> {
    let closed = hour_of(now);
    let pending: Vec<runs::Model> = runs::Entity::find()
        .filter(
            Condition::any()
                .add(runs::Column::MeteredUntil.is_null())
                .add(runs::Column::EndedAt.is_null())
                .add(Expr::col(runs::Column::MeteredUntil).lt(Expr::col(runs::Column::EndedAt))),
        )
        .all(db)
        .await?
        .into_iter()
        .filter(|r| needs_metering(r, closed))
        .collect();
    if pending.is_empty() {
        return Ok(Metered::default());
    }
    let mut from_of: HashMap<String, NaiveDateTime> = HashMap::new();
    for run in &pending {
        let from = metered_from(run);
        from_of
            .entry(run.env_id.clone())
            .and_modify(|f| *f = (*f).min(from))
            .or_insert(from);
    }
    let book = prices::price_book(db).await?;
    let mut metered = Metered::default();
    for (env_id, from) in from_of {
        let env_runs = runs::Entity::find()
            .filter(runs::Column::EnvId.eq(env_id.as_str()))
            .filter(runs::Column::StartedAt.lt(closed))
            .filter(
                Condition::any()
                    .add(runs::Column::EndedAt.is_null())
                    .add(runs::Column::EndedAt.gt(from)),
            )
            .all(db)
            .await?;
        let lines = lines(&env_runs, &book, from, closed);
        for line in lines.iter().filter(|l| !l.priced) {
            tracing::warn!(
                environment = %line.env_id,
                resource = line.resource.as_db(),
                gpu_model = line.gpu_model.as_deref().unwrap_or(""),
                hour = %line.bucket_start,
                "no price for this resource: billed at 0"
            );
        }
        let txn = db::begin_write(db).await?;
        let mut rows = Vec::with_capacity(lines.len());
        // One draft per account and month: the lines of an hour share it.
        let mut drafts: HashMap<(BillingAccount, NaiveDateTime), i64> = HashMap::new();
        for line in &lines {
            let month = invoices::month_of(line.bucket_start).0;
            let invoice = match drafts.get(&(line.account(), month)) {
                Some(&id) => id,
                None => {
                    let id =
                        invoices::draft_for(&txn, line.account(), line.bucket_start, now).await?;
                    drafts.insert((line.account(), month), id);
                    id
                }
            };
            if !metered.invoices.contains(&invoice) {
                metered.invoices.push(invoice);
            }
            rows.push(record(line, invoice)?);
        }
        if !rows.is_empty() {
            metered.records += br::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([
                        br::Column::EnvId,
                        br::Column::ResourceType,
                        br::Column::BucketStart,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        let ids: Vec<i64> = env_runs.iter().map(|r| r.id).collect();
        runs::Entity::update_many()
            .col_expr(runs::Column::MeteredUntil, Expr::value(closed))
            .filter(runs::Column::Id.is_in(ids))
            .filter(
                Condition::any()
                    .add(runs::Column::MeteredUntil.is_null())
                    .add(runs::Column::MeteredUntil.lt(closed)),
            )
            .exec(&txn)
            .await?;
        txn.commit().await?;
    }
    Ok(metered)
}

fn record(line: &Line, invoice: i64) -> AppResult<br::ActiveModel> {
    let unit_price = Money::within("unitPrice", line.unit_price, Money::RECORD_DIGITS)?;
    let amount = Money::within("amount", line.amount, Money::RECORD_DIGITS)?;
    Ok(br::ActiveModel {
        id: NotSet,
        customer_id: Set(line.customer_id),
        env_id: Set(Some(line.env_id.clone())),
        resource_type: Set(line.resource.as_db().to_owned()),
        quantity: Set(rust_decimal::prelude::ToPrimitive::to_f64(&line.quantity).unwrap_or(0.0)),
        unit_price: Set(Numeric(unit_price.get())),
        amount: Set(Numeric(amount.get())),
        start_time: Set(line.start),
        end_time: Set(line.end),
        created_at: NotSet,
        invoice_id: Set(Some(invoice)),
        workspace_id: Set(line.workspace_id),
        gpu_model: Set(line.gpu_model.clone()),
        seconds: Set(line.seconds),
        bucket_start: Set(Some(line.bucket_start)),
    })
}

/// The cost of the time `runs` ran since their last metered hour, up to `now` (the live
/// part of a cost or spend; the metered part is in billing records).
pub fn unmetered(runs: &[runs::Model], book: &PriceBook, now: NaiveDateTime) -> Decimal {
    runs.iter()
        .flat_map(|run| lines(std::slice::from_ref(run), book, metered_from(run), now))
        .map(|l| l.amount)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn t(h: u32, m: u32, s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2030, 1, 1)
            .and_then(|d| d.and_hms_opt(h, m, s))
            .unwrap_or_default()
    }

    fn run(start: NaiveDateTime, end: Option<NaiveDateTime>) -> runs::Model {
        runs::Model {
            id: 1,
            env_id: "env-1".into(),
            customer_id: 7,
            workspace_id: None,
            gpu_model: Some("A100".into()),
            gpu_count: 2,
            cpu_cores: 8,
            memory_bytes: 32 * GIB,
            started_at: start,
            ended_at: end,
            metered_until: None,
        }
    }

    fn book() -> PriceBook {
        let p = |r: &str, m: &str, v: &str| entity::prices::Model {
            id: 0,
            resource_type: r.into(),
            gpu_model: m.into(),
            unit_price: Numeric(v.parse().unwrap_or_default()),
            effective_from: t(0, 0, 0),
            created_at: None,
        };
        PriceBook::new(vec![
            p("gpu", "A100", "2.5000"),
            p("cpu", "", "0.0500"),
            p("memory", "", "0.0100"),
        ])
    }

    #[test]
    fn hours_split_runs_and_a_stop_inside_an_hour_is_not_billed() {
        // 10:00:00-11:30:17 running, 20 min stopped, 11:50:17-12:00:17 running.
        let runs = [
            run(t(10, 0, 0), Some(t(11, 30, 17))),
            run(t(11, 50, 17), Some(t(12, 0, 17))),
        ];
        let lines = lines(&runs, &book(), t(0, 0, 0), t(13, 0, 0));
        let got: Vec<(u32, &str, i64, String)> = lines
            .iter()
            .map(|l| {
                (
                    l.bucket_start.hour(),
                    l.resource.as_db(),
                    l.seconds,
                    l.amount.to_string(),
                )
            })
            .collect();
        // 11:00 hour: 1817 s + 583 s = 2400 s. GPU 2 x 2400 x 2.5 / 3600 = 3.3333...
        let want = [
            (10, "gpu", 3600, "5.0000"),
            (10, "cpu", 3600, "0.4000"),
            (10, "memory", 3600, "0.3200"),
            (11, "gpu", 2400, "3.3333"),
            (11, "cpu", 2400, "0.2667"),
            (11, "memory", 2400, "0.2133"),
            (12, "gpu", 17, "0.0236"),
            (12, "cpu", 17, "0.0019"),
            (12, "memory", 17, "0.0015"),
        ];
        let want: Vec<(u32, &str, i64, String)> = want
            .iter()
            .map(|(h, r, s, a)| (*h, *r, *s, a.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn rounding_is_half_even_once() {
        // 1 GPU at 0.0009/h for 1800 s = 0.00045 -> 0.0004 (half to even), not 0.0005.
        let mut r = run(t(10, 0, 0), Some(t(10, 30, 0)));
        r.gpu_count = 1;
        r.cpu_cores = 0;
        r.memory_bytes = 0;
        let p = entity::prices::Model {
            id: 0,
            resource_type: "gpu".into(),
            gpu_model: "*".into(),
            unit_price: Numeric("0.0009".parse().unwrap_or_default()),
            effective_from: t(0, 0, 0),
            created_at: None,
        };
        let lines = lines(&[r], &PriceBook::new(vec![p]), t(0, 0, 0), t(11, 0, 0));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].amount.to_string(), "0.0004");
        assert!(lines[0].priced, "the * price applies to A100");
    }

    #[test]
    fn an_open_run_counts_up_to_until_and_metering_resumes_where_it_stopped() {
        let mut r = run(t(10, 15, 0), None);
        assert!(needs_metering(&r, t(11, 0, 0)));
        r.metered_until = Some(t(11, 0, 0));
        assert!(!needs_metering(&r, t(11, 0, 0)));
        assert!(needs_metering(&r, t(12, 0, 0)));
        let open = lines(&[r], &book(), t(11, 0, 0), t(11, 30, 0));
        assert!(open.iter().all(|l| l.seconds == 1800));
    }
}
