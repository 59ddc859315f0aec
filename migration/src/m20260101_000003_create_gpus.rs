//! Creates `gpus` (seed 000 §4.2): the GPUs of a host as reported by the agent (NVML), with
//! allocation state. `allocated_to` is a plain environment id (indexed, no foreign key, as in
//! the seed); a GPU is unique per `(host_id, gpu_index)`.

use crate::m20260101_000002_create_hosts::Hosts;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(Gpus::Table)
            .col(pk_bigserial(Gpus::Id))
            .col(varchar(Gpus::HostId, 64))
            .col(int(Gpus::GpuIndex))
            .col(varchar_null(Gpus::Uuid, 128).unique_key())
            .col(varchar_null(Gpus::Name, 128))
            .col(varchar_null(Gpus::Brand, 64))
            .col(varchar_null(Gpus::Architecture, 64))
            .col(bigint_null(Gpus::MemoryTotal))
            .col(int_null(Gpus::CudaCores))
            .col(varchar_null(Gpus::ComputeCapability, 32))
            .col(varchar_null(Gpus::Status, 20).default("available"))
            .col(varchar_null(Gpus::HealthStatus, 20).default("healthy"))
            .col(varchar_null(Gpus::AllocatedTo, 64))
            .col(timestamp_null(Gpus::AllocatedAt))
            .col(int_null(Gpus::PowerLimit))
            .col(int_null(Gpus::TemperatureLimit))
            .col(timestamp_now(Gpus::CreatedAt))
            .col(timestamp_now(Gpus::UpdatedAt))
            .fk(Gpus::HostId, Hosts::Table, Hosts::Id, CASCADE)
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        vec![
            index(Gpus::Table, [Gpus::HostId]),
            index(Gpus::Table, [Gpus::Status]),
            index(Gpus::Table, [Gpus::AllocatedTo]),
            unique_index(Gpus::Table, [Gpus::HostId, Gpus::GpuIndex]),
        ]
    }
}

#[derive(DeriveIden)]
pub enum Gpus {
    Table,
    Id,
    HostId,
    GpuIndex,
    Uuid,
    Name,
    Brand,
    Architecture,
    MemoryTotal,
    CudaCores,
    ComputeCapability,
    Status,
    HealthStatus,
    AllocatedTo,
    AllocatedAt,
    PowerLimit,
    TemperatureLimit,
    CreatedAt,
    UpdatedAt,
}
