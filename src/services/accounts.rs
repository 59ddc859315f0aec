//! Workspace membership rules: creating a workspace makes its owner a member, and
//! `workspaces.member_count` follows member rows. Both happen in the transaction of the
//! insert or delete, with a relative `UPDATE`, so concurrent changes cannot lose a count.

use entity::{workspace_members, workspaces};
use futures_util::future::BoxFuture;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};

use crate::error::AppResult;
use crate::services::crud::Lifecycle;

async fn add_to_member_count(
    txn: &DatabaseTransaction,
    workspace_id: i64,
    delta: i32,
) -> AppResult<()> {
    workspaces::Entity::update_many()
        .col_expr(
            workspaces::Column::MemberCount,
            Expr::col(workspaces::Column::MemberCount).add(delta),
        )
        .col_expr(
            workspaces::Column::UpdatedAt,
            Expr::current_timestamp().into(),
        )
        .filter(workspaces::Column::Id.eq(workspace_id))
        .exec(txn)
        .await?;
    Ok(())
}

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
                role: Set("owner".into()),
                status: Set(Some("active".into())),
                joined_at: Set(Some(chrono::Utc::now().naive_utc())),
                ..Default::default()
            }
            .insert(txn)
            .await?;
            Ok(())
        })
    }
}

impl Lifecycle for workspace_members::Entity {
    fn after_insert<'a>(
        txn: &'a DatabaseTransaction,
        row: &'a workspace_members::Model,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(add_to_member_count(txn, row.workspace_id, 1))
    }

    fn after_delete<'a>(
        txn: &'a DatabaseTransaction,
        row: &'a workspace_members::Model,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(add_to_member_count(txn, row.workspace_id, -1))
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
    hosts,
    gpus,
    customers,
    port_mappings,
    datasets,
    dataset_versions,
    models,
    model_versions,
    images,
);
