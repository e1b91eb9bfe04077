//! The text of `status` for a stack in containers, and the hidden `upcalls`.

use std::path::PathBuf;

use anyhow::Context;

use crate::runtime::ComposeStatus;
use crate::stack::containers;
use crate::stack::state::StateDir;

/// `wsctl status` of a stack in containers.
pub(super) fn print_status(
    dir: &StateDir,
    json: bool,
    s: &ComposeStatus,
    branches: &anyhow::Result<Vec<crate::engine::database::BranchAccess>>,
) -> anyhow::Result<i32> {
    let (state, c, running, phase) = (&s.state, &s.c, s.running, s.phase);
    let (list, watcher_pid) = (&s.list, s.watcher_pid);
    if json {
        let services: Vec<serde_json::Value> = list
            .iter()
            .map(|x| {
                serde_json::json!({
                    "name": containers::native_service(&x.service), "container": x.name,
                    "pid": x.pid, "alive": x.state == "running", "state": x.state,
                    "health": x.health, "restarts": x.restarts,
                })
            })
            .chain(s.host.iter().map(|h| {
                let alive = h.pid.is_some_and(crate::stack::process::alive);
                serde_json::json!({
                    "name": h.name, "container": null, "pid": h.pid, "alive": alive,
                    "state": if alive { "running on the host" } else { "down" },
                    "restarts": h.restarts, "log": h.log,
                })
            }))
            .collect();
        let (branch_list, branches_error) = super::print::branch_access_json(branches);
        let out = serde_json::json!({
            "running": running,
            "phase": phase,
            "state_dir": dir.root,
            "backend": state.backend,
            "containers": {"compose": c.compose.join(" "), "engine": c.engine, "project": c.project},
            "api_url": format!("http://127.0.0.1:{}", state.api_port),
            "pg_port": state.pg_port,
            "database_url": super::print::database_url_without_password(state),
            "services": services,
            "branches": branch_list,
            "branches_error": branches_error,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(if running { 0 } else { 3 });
    }
    if !running {
        println!(
            "The stack is stopped ({}; compose project {}).",
            dir.root.display(),
            c.project
        );
        if list.iter().any(|x| x.state == "running") {
            println!("Its containers still run without a watcher: `wsctl up` adopts them, `wsctl down` stops them.");
        }
        return Ok(3);
    }
    println!(
        "Stack {:?} in containers (project {}, {}; watcher pid {})",
        phase.unwrap_or_default(),
        c.project,
        c.compose.join(" "),
        watcher_pid
    );
    let mut t = super::print::Table::new(["SERVICE", "CONTAINER STATE", "PID", "RESTARTS"]);
    for x in list {
        t.row([
            containers::native_service(&x.service),
            x.describe(),
            x.pid.map_or("-".into(), |p| p.to_string()),
            x.restarts.to_string(),
        ]);
    }
    for h in &s.host {
        let alive = h.pid.is_some_and(crate::stack::process::alive);
        t.row([
            h.name.clone(),
            if alive { "running on the host" } else { "down" }.to_string(),
            h.pid.map_or("-".into(), |p| p.to_string()),
            h.restarts.to_string(),
        ]);
    }
    print!("{}", t.render());
    println!();
    super::print::print_branch_access(branches);
    println!();
    super::print::print_urls(dir, state);
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct UpcallArgs {
    /// Address to listen on
    #[arg(long, default_value = "0.0.0.0:1234")]
    listen: std::net::SocketAddr,
    /// Where generations are kept (must survive restarts: a volume)
    #[arg(long)]
    generations: PathBuf,
}

/// The per-stack token every caller must send, from the environment only (argv is visible to
/// every local user in `ps`).
const UPCALL_TOKEN_ENV: &str = "WSCTL_UPCALL_TOKEN";

/// Serves re-attach and validate until SIGTERM or SIGINT.
pub(super) async fn upcalls(args: UpcallArgs) -> anyhow::Result<i32> {
    use tokio::signal::unix::{signal, SignalKind};
    crate::telemetry::init(crate::config::LogFormat::Json);
    let token = std::env::var(UPCALL_TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .with_context(|| {
            format!(
                "{UPCALL_TOKEN_ENV} is not set: the upcall answerer needs the stack's token \
                 (`wsctl up --containers` puts it into the compose env file as WS_UPCALL_TOKEN)"
            )
        })?;
    let upcalls = crate::stack::upcall::Upcalls::load(args.generations)?.with_token(token.trim());
    let handle = crate::stack::upcall::serve_on(args.listen, upcalls)?;
    tracing::info!(listen = %args.listen, "answering the pageserver's upcalls");
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    handle.stop(true).await;
    Ok(0)
}
