//! Creates `system_configs` (seed 000 §3.1): global key/value settings such as the SSH port
//! range, typed by `config_type` and optionally visible to customers (`is_public`).

use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(SystemConfigs::Table)
            .col(pk_bigserial(SystemConfigs::Id))
            .col(varchar(SystemConfigs::ConfigKey, 128).unique_key())
            .col(text(SystemConfigs::ConfigValue))
            .col(varchar(SystemConfigs::ConfigType, 32))
            .col(text_null(SystemConfigs::Description))
            .col(boolean_null(SystemConfigs::IsPublic).default(false))
            .col(timestamp_now(SystemConfigs::CreatedAt))
            .col(timestamp_now(SystemConfigs::UpdatedAt))
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        vec![index(SystemConfigs::Table, [SystemConfigs::ConfigKey])]
    }
}

#[derive(DeriveIden)]
pub enum SystemConfigs {
    Table,
    Id,
    ConfigKey,
    ConfigValue,
    ConfigType,
    Description,
    IsPublic,
    CreatedAt,
    UpdatedAt,
}
