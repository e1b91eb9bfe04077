//! The stack's database from outside: its schema (`init`), its URL, a psql on it, and the
//! health suite (`test`).

use std::path::PathBuf;

use anyhow::Context;

use super::require_running;
use crate::stack::connection;
use crate::stack::state::{BackendKind, StackState, StateDir};

/// What `init` did.
pub struct Initialised {
    /// The newest migration, which the schema is now at.
    pub latest: i32,
    /// The database, described without its password.
    pub target: String,
    /// How many migrations ran now.
    pub applied: usize,
}

/// Refuses to write to a database on another host unless `remote_ok`: a URL pasted from the
/// wrong terminal must not migrate (or fill) a shared or production database. A Unix socket,
/// `localhost` and loopback addresses are this machine.
pub fn check_loopback(
    config: &tokio_postgres::Config,
    what: &str,
    remote_ok: bool,
) -> anyhow::Result<()> {
    use tokio_postgres::config::Host;
    let loopback = |name: &str| {
        name.eq_ignore_ascii_case("localhost")
            || name
                .trim_matches(|c| c == '[' || c == ']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    };
    // Where hostaddr is given, it is what the connection goes to (the host name then only
    // names the server for TLS).
    let remote: Vec<String> = if config.get_hostaddrs().is_empty() {
        config
            .get_hosts()
            .iter()
            .filter_map(|h| match h {
                Host::Tcp(name) if !loopback(name) => Some(name.clone()),
                _ => None,
            })
            .collect()
    } else {
        config
            .get_hostaddrs()
            .iter()
            .filter(|ip| !ip.is_loopback())
            .map(|ip| ip.to_string())
            .collect()
    };
    if remote_ok || remote.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "refusing to write to {what} on {}, which is not this machine — pass --remote-ok if \
         that is the database you mean",
        remote.join(", ")
    )
}

/// Migrates --database-url, else the stack's database, else the API's settings; a database
/// on another host only with `remote_ok`.
pub async fn init(
    dir: &StateDir,
    database_url: Option<String>,
    remote_ok: bool,
) -> anyhow::Result<Initialised> {
    let (config, ours): (tokio_postgres::Config, bool) = match database_url {
        Some(url) => (
            url.parse()
                .context("--database-url is not a valid PostgreSQL connection string")?,
            false,
        ),
        None => match dir.load()? {
            Some(_) => {
                let state = require_running(dir)?;
                (connection::pg_config(dir, &state, &state.database)?, true)
            }
            // No stack here: the API's own settings, if the environment names a database
            // (otherwise they would quietly mean localhost:5432).
            None if !std::env::vars().any(|(k, _)| {
                k == "DATABASE_URL" || k.starts_with("POSTGRES_") || k.starts_with("NEON_")
            }) =>
            {
                return Err(super::NotRunning {
                    dir: dir.root.clone(),
                }
                .into())
            }
            None => {
                let args = crate::config::ApiArgs::default();
                let env = crate::config::Env::process();
                (crate::config::database_settings(&args, &env)?.config, false)
            }
        },
    };
    if !ours {
        check_loopback(&config, &crate::db::describe(&config), remote_ok)?;
    }
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

/// The running stack's state, checked to have branch `name` (when one is given).
async fn with_branch(
    dir: &StateDir,
    branch: Option<&str>,
) -> anyhow::Result<crate::stack::state::StackState> {
    let state = require_running(dir)?;
    if let Some(name) = branch.filter(|b| *b != crate::branch::MAIN) {
        let mut backend = crate::backend::open(dir, state.clone(), None).await?;
        if !backend.has_branch(name).await? {
            anyhow::bail!("no branch named {name} — `wsctl branch list` shows them");
        }
    }
    Ok(state)
}

/// psql on the stack's database (or branch `branch`'s) with `args`; the password goes
/// through the environment, never the command line.
pub async fn psql(
    dir: &StateDir,
    args: Vec<String>,
    branch: Option<&str>,
) -> anyhow::Result<(std::process::Command, PathBuf)> {
    let state = with_branch(dir, branch).await?;
    let psql = match state.pg_bin.as_ref().map(|b| b.join("psql")) {
        Some(p) if p.is_file() => {
            crate::stack::trust::check(&p, "PostgreSQL program")?;
            p
        }
        _ => PathBuf::from("psql"),
    };
    // The private socket, not TCP (see connection::database_url); containers publish TCP only.
    let host = match state.containers {
        None if state.backend == BackendKind::Postgres => dir.pg_socket_dir().display().to_string(),
        _ => "127.0.0.1".to_string(),
    };
    let (database, port) = match branch {
        Some(b) => state.branch_target(b),
        None => (state.database.clone(), state.pg_port),
    };
    let mut cmd = std::process::Command::new(&psql);
    cmd.args([
        "-h",
        &host,
        "-p",
        &port.to_string(),
        "-U",
        &state.superuser,
        &database,
    ])
    .args(args)
    .env("PGPASSWORD", dir.read_secret("pg-password")?);
    Ok((cmd, psql))
}

/// The API's URL, or the database's with its password; with `branch`, that branch's
/// connection string or its preview API's URL.
pub async fn url(dir: &StateDir, api: bool, branch: Option<&str>) -> anyhow::Result<String> {
    let state = with_branch(dir, branch).await?;
    match (api, branch) {
        (true, None) => Ok(format!("http://127.0.0.1:{}", state.api_port)),
        (true, Some(b)) if b == crate::branch::MAIN => {
            Ok(format!("http://127.0.0.1:{}", state.api_port))
        }
        (true, Some(b)) => match state.previews.iter().find(|p| p.branch == b) {
            Some(p) => Ok(format!("http://127.0.0.1:{}", p.port)),
            None => anyhow::bail!(
                "branch {b} has no preview API — `wsctl branch create NAME --api` makes a \
                 branch with one"
            ),
        },
        // The database the API serves (main, or the branch `branch switch` chose).
        (false, None) => connection::database_url(dir, &state),
        (false, Some(b)) => connection::branch_url(dir, &state, b),
    }
}

/// The health suite on the stack in `dir`.
pub async fn test(dir: &StateDir) -> anyhow::Result<crate::health::Report> {
    let state = require_running(dir)?;
    Ok(crate::health::run(dir, &state).await)
}

#[cfg(test)]
mod tests {
    use super::check_loopback;

    fn check(url: &str, remote_ok: bool) -> anyhow::Result<()> {
        check_loopback(&url.parse().unwrap(), "it", remote_ok)
    }

    #[test]
    fn only_this_machine_is_written_without_remote_ok() {
        for local in [
            "postgres://u@127.0.0.1/db",
            "postgres://u@localhost:5433/db",
            "postgres://u@[::1]/db",
            "host=/tmp/socket dbname=db",
            "host=db.example.com hostaddr=127.0.0.1 dbname=db",
        ] {
            assert!(check(local, false).is_ok(), "{local}");
        }
        for remote in [
            "postgres://u@db.example.com/db",
            "postgres://u@10.0.0.5:5432/db",
            "postgres://u@127.0.0.1,10.0.0.5/db",
        ] {
            let e = check(remote, false).unwrap_err().to_string();
            assert!(e.contains("--remote-ok"), "{e}");
            assert!(check(remote, true).is_ok());
        }
    }
}

/// How to reach a branch, as `status` and `branch list` show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Access {
    /// Its connection string, without the password (`wsctl url --branch` has it).
    pub connection: String,
    /// Its preview API, when it has one (main: the stack's API).
    pub api_url: Option<String>,
    /// Whether the stack's API serves it.
    pub served: bool,
}

/// One branch and how to reach it, as `status` lists them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BranchAccess {
    pub name: String,
    #[serde(flatten)]
    pub access: Access,
}

/// Every branch of the running stack in `dir` (main first) and how to reach it. Status must
/// answer while the database restarts, so this gives up after two seconds; the error says why.
pub async fn branch_access(dir: &StateDir, state: StackState) -> anyhow::Result<Vec<BranchAccess>> {
    let list = async {
        let mut b = crate::backend::open(dir, state.clone(), None).await?;
        b.branches().await
    };
    let branches = tokio::time::timeout(std::time::Duration::from_secs(2), list)
        .await
        .map_err(|_| anyhow::anyhow!("the database did not answer within 2 s"))??;
    Ok(branches
        .names()
        .into_iter()
        .map(|name| BranchAccess {
            access: access(&state, &name),
            name,
        })
        .collect())
}

pub fn access(state: &StackState, name: &str) -> Access {
    let api_url = if name == crate::branch::MAIN {
        Some(format!("http://127.0.0.1:{}", state.api_port))
    } else {
        state
            .previews
            .iter()
            .find(|p| p.branch == name)
            .map(|p| format!("http://127.0.0.1:{}", p.port))
    };
    Access {
        connection: connection::branch_url_shown(state, name),
        api_url,
        served: state
            .active_branch
            .as_deref()
            .unwrap_or(crate::branch::MAIN)
            == name,
    }
}
