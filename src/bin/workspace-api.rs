//! `workspace-api`: serve the Workspace API, or migrate its database.

use clap::{Parser, Subcommand};

// Responses are built from many small strings; glibc's malloc showed as a quarter of the
// CPU time of a 100-item list under load, mimalloc cuts most of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use workspace_stack::api::Application;
use workspace_stack::config::{ApiArgs, ApiSettings, Env, LogFormat};
use workspace_stack::{db, telemetry};

#[derive(Parser)]
#[command(version, about = "The Workspace API (items and categories over HTTP)")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    args: ApiArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default)
    Serve(ApiArgs),
    /// Apply pending schema migrations and exit
    Migrate(ApiArgs),
    /// Print the OpenAPI document and exit
    Openapi,
}

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(cli.args).await,
        Some(Command::Serve(args)) => serve(args).await,
        Some(Command::Migrate(args)) => migrate(args).await,
        Some(Command::Openapi) => {
            let doc = workspace_stack::api::routes::openapi::document();
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).expect("serialisable")
            );
            Ok(())
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("workspace-api: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: ApiArgs) -> anyhow::Result<()> {
    let settings = ApiSettings::from_env(&args)?;
    telemetry::init(settings.log_format);
    let app = Application::build(settings)?;
    app.run_until_stopped().await?;
    Ok(())
}

async fn migrate(args: ApiArgs) -> anyhow::Result<()> {
    telemetry::init(args.log_format.unwrap_or(LogFormat::Pretty));
    let settings = workspace_stack::config::database_settings(&args, &Env::process())?;
    let mut client = db::connect_user(&settings.config).await?;
    let applied = db::migrations::migrate(&mut client).await?;
    if applied.is_empty() {
        println!(
            "schema already at migration {} on {}",
            db::migrations::latest_version(),
            settings.describe()
        );
    } else {
        println!("applied migrations {applied:?} on {}", settings.describe());
    }
    Ok(())
}
