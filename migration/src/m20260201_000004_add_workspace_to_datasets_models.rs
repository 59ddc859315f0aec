//! Adds a nullable `workspace_id` to `datasets` and `models` (`ON DELETE SET NULL`), so a
//! dataset or model can belong to a workspace and be shared with its members by role, as
//! environments already can.
//!
//! SQLite cannot add a foreign key with `ALTER TABLE ... ADD CONSTRAINT`, but both backends
//! accept a column-level `REFERENCES` clause in `ADD COLUMN`, so one statement serves both.

use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 2] = ["datasets", "models"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for t in TABLES {
            db.execute_unprepared(&format!(
                "ALTER TABLE {t} ADD COLUMN workspace_id BIGINT \
                 CONSTRAINT fk_{t}_workspace_id REFERENCES workspaces (id) ON DELETE SET NULL"
            ))
            .await?;
            manager
                .create_index(index(Alias::new(t), [Alias::new("workspace_id")]))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in TABLES {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("idx_{t}_workspace_id"))
                        .table(Alias::new(t))
                        .to_owned(),
                )
                .await?;
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(t))
                        .drop_column(Alias::new("workspace_id"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
