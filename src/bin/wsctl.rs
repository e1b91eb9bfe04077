//! `wsctl`: the stack runner. This first version initialises a database; bringing the whole
//! stack up comes next.

use clap::{Parser, Subcommand};
use workspace_stack::config::{ApiArgs, Env};
use workspace_stack::db;

#[derive(Parser)]
#[command(version, about = "Run the Workspace stack")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending schema migrations to the database
    Init {
        /// PostgreSQL URL [env: DATABASE_URL or the POSTGRES_*/NEON_* names]
        #[arg(long)]
        database_url: Option<String>,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init { database_url } => init(database_url).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsctl: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn init(database_url: Option<String>) -> anyhow::Result<()> {
    let args = ApiArgs {
        database_url,
        ..Default::default()
    };
    let settings = workspace_stack::config::database_settings(&args, &Env::process())?;
    let mut client = db::connect(&settings.config).await?;
    let applied = db::migrations::migrate(&mut client).await?;
    println!(
        "schema at migration {} on {} ({} applied now)",
        db::migrations::latest_version(),
        settings.describe(),
        applied.len()
    );
    Ok(())
}
