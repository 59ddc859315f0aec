//! Creates `refresh_tokens`: one row per issued refresh token (its SHA-256 only). Tokens
//! rotate on use; all tokens descending from one login share a `family`, so presenting a
//! token that was already rotated revokes the whole family.

use crate::m20260101_000006_create_customers::Customers;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(RefreshTokens::Table)
            .col(pk_bigserial(RefreshTokens::Id))
            .col(bigint(RefreshTokens::CustomerId))
            .col(varchar(RefreshTokens::TokenHash, 64).unique_key())
            .col(varchar(RefreshTokens::Family, 64))
            .col(timestamp(RefreshTokens::ExpiresAt))
            .col(timestamp_null(RefreshTokens::RotatedAt))
            .col(timestamp_null(RefreshTokens::RevokedAt))
            .col(timestamp_now(RefreshTokens::CreatedAt))
            .fk(
                RefreshTokens::CustomerId,
                Customers::Table,
                Customers::Id,
                CASCADE,
            )
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        vec![
            index(RefreshTokens::Table, [RefreshTokens::CustomerId]),
            index(RefreshTokens::Table, [RefreshTokens::Family]),
        ]
    }
}

#[derive(DeriveIden)]
pub enum RefreshTokens {
    Table,
    Id,
    CustomerId,
    TokenHash,
    Family,
    ExpiresAt,
    RotatedAt,
    RevokedAt,
    CreatedAt,
}
