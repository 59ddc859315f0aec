//! Creates `hosts` (seed 000 §4.1): the registry of GPU machines. Seed 003's `nodes` are these
//! rows too: agent registration, `last_heartbeat` and online/offline/error `status` live here.
//! `labels` gets a GIN index on PostgreSQL; `tags` (the seed's `TEXT[]`) is a JSON array.

use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(Hosts::Table)
            .col(pk_varchar(Hosts::Id, 64))
            .col(varchar(Hosts::Name, 128))
            .col(varchar_null(Hosts::Hostname, 256))
            .col(varchar(Hosts::IpAddress, 64))
            .col(varchar_null(Hosts::PublicIp, 64))
            .col(varchar(Hosts::OsType, 20))
            .col(varchar_null(Hosts::OsVersion, 64))
            .col(varchar_null(Hosts::Arch, 20).default("x86_64"))
            .col(varchar(Hosts::DeploymentMode, 20))
            .col(varchar_null(Hosts::K8sNodeName, 128))
            .col(varchar_null(Hosts::Status, 20).default("offline"))
            .col(varchar_null(Hosts::HealthStatus, 20).default("unknown"))
            .col(int(Hosts::TotalCpu))
            .col(bigint(Hosts::TotalMemory))
            .col(bigint_null(Hosts::TotalDisk))
            .col(int_null(Hosts::TotalGpu).default(0))
            .col(int_null(Hosts::UsedCpu).default(0))
            .col(bigint_null(Hosts::UsedMemory).default(0))
            .col(bigint_null(Hosts::UsedDisk).default(0))
            .col(int_null(Hosts::UsedGpu).default(0))
            .col(int_null(Hosts::SshPort).default(22))
            .col(int_null(Hosts::WinrmPort))
            .col(int_null(Hosts::AgentPort).default(8080))
            .col(jsonb_null(Hosts::Labels))
            .col(jsonb_null(Hosts::Tags))
            .col(timestamp_null(Hosts::LastHeartbeat))
            .col(timestamp_now(Hosts::RegisteredAt))
            .col(timestamp_now(Hosts::CreatedAt))
            .col(timestamp_now(Hosts::UpdatedAt))
            .take()
    }

    fn indexes(&self, backend: DbBackend) -> Vec<IndexCreateStatement> {
        let mut indexes = vec![
            index(Hosts::Table, [Hosts::OsType]),
            index(Hosts::Table, [Hosts::Status]),
            index(Hosts::Table, [Hosts::DeploymentMode]),
        ];
        indexes.extend(gin_index(backend, Hosts::Table, Hosts::Labels));
        indexes
    }
}

#[derive(DeriveIden)]
pub enum Hosts {
    Table,
    Id,
    Name,
    Hostname,
    IpAddress,
    PublicIp,
    OsType,
    OsVersion,
    Arch,
    DeploymentMode,
    #[sea_orm(iden = "k8s_node_name")]
    K8sNodeName,
    Status,
    HealthStatus,
    TotalCpu,
    TotalMemory,
    TotalDisk,
    TotalGpu,
    UsedCpu,
    UsedMemory,
    UsedDisk,
    UsedGpu,
    SshPort,
    WinrmPort,
    AgentPort,
    Labels,
    Tags,
    LastHeartbeat,
    RegisteredAt,
    CreatedAt,
    UpdatedAt,
}
