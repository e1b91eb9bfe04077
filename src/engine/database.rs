//! The stack's database from outside: its schema (`init`), its URL, a psql on it, and the
//! health suite (`test`).

use std::path::PathBuf;

use anyhow::Context;

use super::require_state;
use crate::stack::state::{BackendKind, StateDir};
use crate::stack::supervisor;

/// What `init` did.
pub struct Initialised {
    /// The newest migration, which the schema is now at.
    pub latest: i32,
    /// The database, described without its password.
    pub target: String,
    /// How many migrations ran now.
    pub applied: usize,
}

/// Migrates --database-url, else the stack's database, else the API's settings.
pub async fn init(dir: &StateDir, database_url: Option<String>) -> anyhow::Result<Initialised> {
    let (config, ours): (tokio_postgres::Config, bool) = match database_url {
        Some(url) => (
            url.parse()
                .context("--database-url is not a valid PostgreSQL connection string")?,
            false,
        ),
        None => match dir.load()? {
            Some(state) => (supervisor::pg_config(dir, &state, &state.database)?, true),
            None => {
                let args = crate::config::ApiArgs::default();
                let env = crate::config::Env::process();
                (crate::config::database_settings(&args, &env)?.config, false)
            }
        },
    };
    let mut client = if ours {
        crate::db::connect(&config).await?
    } else {
        crate::db::connect_user(&config).await?
    };
    let applied = crate::db::migrations::migrate(&mut client).await?;
    Ok(Initialised {
        latest: crate::db::migrations::latest_version(),
        target: crate::db::describe(&config),
        applied: applied.len(),
    })
}

/// psql on the stack's database with `args`; the password goes through the environment,
/// never the command line.
pub fn psql(dir: &StateDir, args: Vec<String>) -> anyhow::Result<(std::process::Command, PathBuf)> {
    let state = require_state(dir)?;
    let psql = match state.pg_bin.as_ref().map(|b| b.join("psql")) {
        Some(p) if p.is_file() => {
            crate::stack::trust::check(&p, "PostgreSQL program")?;
            p
        }
        _ => PathBuf::from("psql"),
    };
    // The private socket, not TCP (see supervisor::database_url); containers publish TCP only.
    let host = match state.containers {
        None if state.backend == BackendKind::Postgres => dir.pg_socket_dir().display().to_string(),
        _ => "127.0.0.1".to_string(),
    };
    let mut cmd = std::process::Command::new(&psql);
    cmd.args([
        "-h",
        &host,
        "-p",
        &state.pg_port.to_string(),
        "-U",
        &state.superuser,
        &state.database,
    ])
    .args(args)
    .env("PGPASSWORD", dir.read_secret("pg-password")?);
    Ok((cmd, psql))
}

/// The API's URL, or the database's with its password.
pub fn url(dir: &StateDir, api: bool) -> anyhow::Result<String> {
    let state = require_state(dir)?;
    if api {
        Ok(format!("http://127.0.0.1:{}", state.api_port))
    } else {
        supervisor::database_url(dir, &state)
    }
}

/// The health suite on the stack in `dir`.
pub async fn test(dir: &StateDir) -> anyhow::Result<crate::health::Report> {
    let state = require_state(dir)?;
    Ok(crate::health::run(dir, &state).await)
}
