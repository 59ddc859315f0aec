//! Creates `images` (seed 000 §7.3): the catalogue of container images environments start from
//! (official or not, by category); `size` is in bytes.

use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(Images::Table)
            .col(pk_bigserial(Images::Id))
            .col(varchar(Images::Name, 256).unique_key())
            .col(text_null(Images::Description))
            .col(varchar_null(Images::Category, 64))
            .col(boolean_null(Images::IsOfficial).default(false))
            .col(bigint_null(Images::Size))
            .col(timestamp_now(Images::CreatedAt))
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        vec![
            index(Images::Table, [Images::Category]),
            index(Images::Table, [Images::IsOfficial]),
        ]
    }
}

#[derive(DeriveIden)]
pub enum Images {
    Table,
    Id,
    Name,
    Description,
    Category,
    IsOfficial,
    Size,
    CreatedAt,
}
