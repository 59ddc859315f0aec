//! Bounds on how long credentials outlive the events that should end them:
//!
//! - `refresh_tokens.family_expires_at`: the moment a sign-in ends for good, however often
//!   its refresh token is rotated. A login sets it (`auth.refresh_family_ttl_secs` after the
//!   login); each rotation copies it to the new token, whose own `expires_at` never passes
//!   it. Tokens issued before this step get their current `expires_at`: those sessions end
//!   then at the latest.
//! - `customers.credentials_version`: counts the account's password changes. Access tokens
//!   carry the version they were issued at (`ver`); one from before the last change no
//!   longer opens a WebSocket.

use crate::m20260101_000006_create_customers::Customers;
use crate::m20260201_000003_create_refresh_tokens::RefreshTokens;
use crate::schema::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .add_column(timestamp_null(Added::FamilyExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("UPDATE refresh_tokens SET family_expires_at = expires_at")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Customers::Table)
                    .add_column(int(Added::CredentialsVersion).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Customers::Table)
                    .drop_column(Added::CredentialsVersion)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .drop_column(Added::FamilyExpiresAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Added {
    FamilyExpiresAt,
    CredentialsVersion,
}
