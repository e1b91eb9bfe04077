//! `wsctl migrate`'s steps around the backend's snapshot-and-migrate: what is pending (read
//! only, so nothing pending means no snapshot), and the API after the schema moved.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Serialize;

use super::require_state;
use crate::backend::Backend;
use crate::db::migrations::{self, Migration, MigrationStatus, SchemaState, NEWER_THAN_API};
use crate::stack::connection::pg_config;
use crate::stack::state::{StackState, StateDir};

/// `wsctl migrate status`.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// "current", "behind" (migrations pending) or "ahead" (migrated by a newer build).
    pub schema: &'static str,
    pub applied_version: i32,
    pub latest_version: i32,
    pub pending: Vec<i32>,
    pub migrations: Vec<MigrationStatus>,
}

pub async fn status(dir: &StateDir) -> anyhow::Result<StatusReport> {
    let state = require_state(dir)?;
    let client = crate::db::connect(&pg_config(dir, &state, &state.database)?).await?;
    let all = migrations::status(&client).await?;
    let applied_version = migrations::applied(&client)
        .await?
        .last()
        .map_or(0, |a| a.version);
    let schema = match migrations::state(&client).await? {
        SchemaState::Current => "current",
        SchemaState::Behind { .. } => "behind",
        SchemaState::Ahead { .. } => "ahead",
    };
    Ok(StatusReport {
        schema,
        applied_version,
        latest_version: migrations::latest_version(),
        pending: all
            .iter()
            .filter(|m| m.applied_at.is_none())
            .map(|m| m.version)
            .collect(),
        migrations: all,
    })
}

/// The migrations `migrate` would apply to main. Refuses an edited or unknown applied
/// migration here, before any snapshot is taken.
pub async fn pending(dir: &StateDir, b: &dyn Backend) -> anyhow::Result<Vec<Migration>> {
    let state = b.state();
    let client = crate::db::connect(&pg_config(dir, state, &state.database)?).await?;
    migrations::pending(&client).await
}

/// What the API made of the schema after `migrate`.
#[derive(Debug, PartialEq, Eq)]
pub enum ApiAfterMigrate {
    /// `/ready` answered 200 at once.
    Ready,
    /// It refused the schema as newer than it knows; it was restarted and is ready now.
    Restarted,
}

/// After the schema moved, the API must accept it. An API whose `/ready` calls the schema
/// newer than it knows runs an older build (started before the binary was rebuilt): it is
/// restarted (the supervisor starts it again at once, from the binary on disk). If it still
/// refuses, the error says which binary to replace.
pub async fn refresh_api(dir: &StateDir, state: &StackState) -> anyhow::Result<ApiAfterMigrate> {
    let url = format!("http://127.0.0.1:{}/ready", state.api_port);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let ready = |http: reqwest::Client, url: String| async move {
        let r = http.get(&url).send().await?;
        let ok = r.status().is_success();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        let message = body["checks"]["schema"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        anyhow::Ok((ok, message))
    };
    let (ok, message) = ready(http.clone(), url.clone()).await?;
    if ok || !message.contains(NEWER_THAN_API) {
        // Ready, or not ready for another reason, which the health suite reports.
        return Ok(ApiAfterMigrate::Ready);
    }
    let fix = || {
        format!(
            "the Workspace API refuses the schema: {message}. Its binary is older than this \
             wsctl — install the workspace-api built with it ({}), then `wsctl down && wsctl up`",
            crate::runtime::supervisor::api_command()
                .map(|(bin, _)| bin.display().to_string())
                .unwrap_or_else(|_| "next to wsctl".into())
        )
    };
    if state.containers.is_some() {
        bail!("{}", fix());
    }
    restart_api(dir).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match ready(http.clone(), url.clone()).await {
            Ok((true, _)) => return Ok(ApiAfterMigrate::Restarted),
            Ok((false, m)) if m.contains(NEWER_THAN_API) => bail!("{}", fix()),
            _ if Instant::now() > deadline => {
                bail!(
                    "the API did not come back after its restart — see `wsctl logs workspace-api`"
                )
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Stops the API process; its supervisor starts it again (the first restart after a stable
/// run is immediate). Returns once a new process runs.
async fn restart_api(dir: &StateDir) -> anyhow::Result<()> {
    let api_pid = || {
        dir.load_status()
            .and_then(|s| s.services.into_iter().find(|x| x.name == "workspace-api"))
            .and_then(|x| x.pid)
    };
    let Some(before) = api_pid() else {
        bail!("the Workspace API is not running — see `wsctl status`");
    };
    crate::stack::process::signal(before, libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !api_pid().is_some_and(|p| p != before && crate::stack::process::alive(p)) {
        if Instant::now() > deadline {
            bail!("the supervisor did not restart the API — see `wsctl logs workspace-api`");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
