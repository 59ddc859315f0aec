//! `remotegpu`: run the server, apply migrations, or print the GraphQL schema.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use remotegpu::config::Settings;
use remotegpu::startup::{migrate, Application};
use remotegpu::{graphql, services, telemetry};

/// Requests allocate many small objects (GraphQL values, rows, JSON); mimalloc serves them
/// with less contention and fragmentation than the system allocator (`docs/benchmarks.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "remotegpu", version, about = "RemoteGPU control plane")]
struct Cli {
    /// TOML settings file (default: ./remotegpu.toml when present).
    #[arg(long, global = true, env = "REMOTEGPU_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage platform operators.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Write the GraphQL SDL to a file, or check that the file is current.
    Schema {
        #[arg(long, default_value = "schema.graphql")]
        output: PathBuf,
        /// Exit non-zero if the file differs from the schema the code defines.
        #[arg(long)]
        check: bool,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin account. The password is read from REMOTEGPU_ADMIN_PASSWORD, or
    /// from the first line of standard input.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Schema { output, check }) = &cli.command {
        return schema_command(output, *check);
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init(&settings.log);
    let result = match cli.command {
        Some(Command::Migrate) => run_migrations(&settings).await,
        Some(Command::Admin {
            command: AdminCommand::Create { username, email },
        }) => create_admin(&settings, &username, &email).await,
        _ => serve(settings).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "fatal");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    let app = Application::build(settings).await?;
    app.run_until_stopped().await?;
    Ok(())
}

async fn run_migrations(settings: &Settings) -> Result<(), Box<dyn std::error::Error>> {
    let metrics = std::sync::Arc::default();
    let db = remotegpu::db::connect(&settings.database_url(), 1, None, metrics).await?;
    migrate(&db).await?;
    tracing::info!("migrations applied");
    Ok(())
}

async fn create_admin(
    settings: &Settings,
    username: &str,
    email: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let password = match std::env::var("REMOTEGPU_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let metrics = std::sync::Arc::default();
    let db = remotegpu::db::connect(&settings.database_url(), 1, None, metrics).await?;
    migrate(&db).await?;
    let account = services::accounts::NewAccount::parse(username, email, &password)?;
    let admin =
        services::accounts::register(&db, account, remotegpu::domain::AccountRole::Admin).await?;
    println!("admin {} created (id {})", admin.username, admin.id);
    Ok(())
}

fn schema_command(output: &PathBuf, check: bool) -> ExitCode {
    let sdl = graphql::schema::sdl();
    if check {
        let current = std::fs::read_to_string(output).unwrap_or_default();
        if current == sdl {
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "{} is stale: run `cargo run -- schema` and commit the result",
            output.display()
        );
        return ExitCode::FAILURE;
    }
    match std::fs::write(output, sdl) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cannot write {}: {err}", output.display());
            ExitCode::FAILURE
        }
    }
}
