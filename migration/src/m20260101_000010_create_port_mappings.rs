//! Creates `port_mappings` (seed 000 §6.2): SSH/RDP/JupyterLab ports of an environment exposed
//! on its host; an external port is handed out once (`UNIQUE`).

use crate::m20260101_000009_create_environments::Environments;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(PortMappings::Table)
            .col(pk_bigserial(PortMappings::Id))
            .col(varchar(PortMappings::EnvId, 64))
            .col(varchar(PortMappings::ServiceType, 32))
            .col(int(PortMappings::ExternalPort).unique_key())
            .col(int(PortMappings::InternalPort))
            .col(varchar_null(PortMappings::Status, 20).default("active"))
            .col(timestamp_now(PortMappings::AllocatedAt))
            .fk(
                PortMappings::EnvId,
                Environments::Table,
                Environments::Id,
                CASCADE,
            )
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        vec![
            index(PortMappings::Table, [PortMappings::EnvId]),
            index(PortMappings::Table, [PortMappings::ExternalPort]),
        ]
    }
}

#[derive(DeriveIden)]
pub enum PortMappings {
    Table,
    Id,
    EnvId,
    ServiceType,
    ExternalPort,
    InternalPort,
    Status,
    AllocatedAt,
}
