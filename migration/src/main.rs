//! `migration`: applies every pending migration to the database at `DATABASE_URL`
//! (PostgreSQL or SQLite, e.g. `sqlite://data/remotegpu.db?mode=rwc`).

use migration::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::Database;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let db = Database::connect(&url).await?;
    Migrator::up(&db, None).await?;
    Ok(())
}
