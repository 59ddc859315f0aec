//! Quotas: how many environments and GPUs a customer or workspace may hold, checked under
//! a lock on their rows, and the operators' overrides.

use super::*;

use entity::{customers, environments as env, workspaces};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, Set,
};

use crate::auth::policy::{self};
use crate::db;
use crate::domain::EnvState;
use crate::error::{AppError, AppResult, RefusalReason};
use crate::services::platform::EnvironmentSettings;
use crate::services::spend;

/// Refuses (FORBIDDEN, reason QUOTA) when `extra_envs` more environments or `extra_gpus`
/// more GPUs would exceed the customer's or the workspace's quota. Locks the customer (and
/// workspace) row first, so concurrent requests of one tenant are counted one after another.
pub(super) async fn check_quota(
    txn: &DatabaseTransaction,
    settings: &EnvironmentSettings,
    customer: i64,
    workspace: Option<i64>,
    extra_envs: i64,
    extra_gpus: i32,
) -> Result<(), Attempt> {
    spend::refuse_if_limited(txn, customer, workspace).await?;
    customers::Entity::update_many()
        .col_expr(
            customers::Column::Id,
            Expr::col(customers::Column::Id).into(),
        )
        .filter(customers::Column::Id.eq(customer))
        .exec(txn)
        .await?;
    let owner = customers::Entity::find_by_id(customer)
        .one(txn)
        .await?
        .ok_or(AppError::NotFound("customer"))?;
    let mine = usage(txn, env::Column::CustomerId.eq(customer)).await?;
    let limit = Limit {
        gpus: owner.max_gpus.unwrap_or(settings.customer_max_gpus),
        envs: owner
            .max_environments
            .unwrap_or(settings.customer_max_environments),
    };
    limit.check("your", mine, extra_envs, extra_gpus)?;
    if let Some(ws) = workspace {
        workspaces::Entity::update_many()
            .col_expr(
                workspaces::Column::Id,
                Expr::col(workspaces::Column::Id).into(),
            )
            .filter(workspaces::Column::Id.eq(ws))
            .exec(txn)
            .await?;
        let row = workspaces::Entity::find_by_id(ws)
            .one(txn)
            .await?
            .ok_or_else(policy::missing_reference)?;
        let used = usage(txn, env::Column::WorkspaceId.eq(ws)).await?;
        let limit = Limit {
            gpus: row.max_gpus.unwrap_or(settings.workspace_max_gpus),
            envs: row
                .max_environments
                .unwrap_or(settings.workspace_max_environments),
        };
        limit.check("the workspace's", used, extra_envs, extra_gpus)?;
    }
    Ok(())
}

pub(super) struct Limit {
    gpus: i32,
    envs: i32,
}

impl Limit {
    fn check(
        &self,
        whose: &str,
        used: (i64, i64),
        extra_envs: i64,
        extra_gpus: i32,
    ) -> AppResult<()> {
        let (envs, gpus) = used;
        if envs + extra_envs > i64::from(self.envs) {
            return Err(AppError::Refused {
                reason: RefusalReason::Quota,
                message: format!(
                    "quota: {whose} limit is {} environments ({envs} exist)",
                    self.envs
                ),
            });
        }
        if gpus + i64::from(extra_gpus) > i64::from(self.gpus) {
            return Err(AppError::Refused {
                reason: RefusalReason::Quota,
                message: format!("quota: {whose} limit is {} GPUs ({gpus} in use)", self.gpus),
            });
        }
        Ok(())
    }
}

/// Environments that count against a quota (every one not deleted or failed) and the GPUs
/// of those that hold theirs.
pub(super) async fn usage(
    txn: &DatabaseTransaction,
    whose: sea_orm::sea_query::SimpleExpr,
) -> AppResult<(i64, i64)> {
    let rows =
        env::Entity::find()
            .filter(whose)
            .filter(env::Column::Status.is_not_in(
                [EnvState::Deleted, EnvState::Failed, EnvState::Error].map(EnvState::as_db),
            ))
            .all(txn)
            .await?;
    let mut gpus = 0;
    for r in &rows {
        if state_of(r)?.holds_compute() {
            gpus += i64::from(r.gpu.unwrap_or(0));
        }
    }
    Ok((rows.len() as i64, gpus))
}

/// Sets a customer's quota overrides (operators only: checked by the caller's policy).
pub async fn set_customer_quota(
    db: &DatabaseConnection,
    customer: i64,
    quota: Quota,
) -> AppResult<customers::Model> {
    let row = customers::Entity::find_by_id(customer)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("customer"))?;
    let _writer = db::write_guard(db).await;
    let mut active: customers::ActiveModel = row.into();
    active.max_gpus = Set(quota.max_gpus);
    active.max_environments = Set(quota.max_environments);
    Ok(active.update(db).await?)
}

/// Sets a workspace's quota overrides (operators only).
pub async fn set_workspace_quota(
    db: &DatabaseConnection,
    workspace: i64,
    quota: Quota,
) -> AppResult<workspaces::Model> {
    let row = workspaces::Entity::find_by_id(workspace)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("workspace"))?;
    let _writer = db::write_guard(db).await;
    let mut active: workspaces::ActiveModel = row.into();
    active.max_gpus = Set(quota.max_gpus);
    active.max_environments = Set(quota.max_environments);
    Ok(active.update(db).await?)
}
