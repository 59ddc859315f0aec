//! Adds `hosts.agent_version`: the version of the node agent, as it last reported itself,
//! so operators can see which hosts run an old agent.

use crate::m20260101_000002_create_hosts::Hosts;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Hosts::Table)
                    .add_column(varchar_null(Version::AgentVersion, 64))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Hosts::Table)
                    .drop_column(Version::AgentVersion)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Version {
    AgentVersion,
}
