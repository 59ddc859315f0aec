//! Adds `hosts.agent_token_hash`: the SHA-256 (hex) of the host's agent token. The token
//! itself is shown once, when it is issued, and never stored.

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
                    .add_column(varchar_null(Token::AgentTokenHash, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(Hosts::Table, [Token::AgentTokenHash]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("uq_hosts_agent_token_hash")
                    .table(Hosts::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Hosts::Table)
                    .drop_column(Token::AgentTokenHash)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Token {
    AgentTokenHash,
}
