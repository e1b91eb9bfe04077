//! Talking to the process that holds the state directory's lock (the supervisor, or for
//! containers the watcher): its pid, SIGHUP to re-read state.json, SIGTERM to stop, and
//! waiting for a service it reports in status.json.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::process;
use super::state::{Lock, StateDir};

/// The pid of the supervisor (or, for containers, the watcher) from supervisor.pid.
pub fn supervisor_pid(dir: &StateDir) -> anyhow::Result<u32> {
    std::fs::read_to_string(dir.pid_file())?
        .trim()
        .parse()
        .context("supervisor.pid is corrupt")
}

/// SIGTERM to the process holding the state directory's lock, then waits until it lets go.
/// `Ok(false)` when nothing holds it.
pub async fn stop_supervisor(
    dir: &StateDir,
    what: &str,
    timeout: Duration,
) -> anyhow::Result<bool> {
    if !Lock::is_held(&dir.lock_file())? {
        return Ok(false);
    }
    let pid = supervisor_pid(dir)?;
    process::signal(pid, libc::SIGTERM);
    let deadline = Instant::now() + timeout;
    while Lock::is_held(&dir.lock_file())? {
        if Instant::now() > deadline {
            bail!(
                "the {what} (pid {pid}) did not stop within {} s — see `wsctl logs supervisor`",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Ok(true)
}

/// Tells the supervisor to re-read state.json (SIGHUP).
pub fn reload_supervisor(dir: &StateDir) -> anyhow::Result<()> {
    let pid = supervisor_pid(dir)?;
    process::signal(pid, libc::SIGHUP);
    Ok(())
}

/// Waits until the supervisor reports `service` alive (`true`) or gone (`false`).
pub async fn wait_service(
    dir: &StateDir,
    service: &str,
    alive: bool,
    timeout: std::time::Duration,
) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let status = dir.load_status().unwrap_or_default();
        let svc = status.services.iter().find(|s| s.name == service);
        let is_alive = svc.and_then(|s| s.pid).is_some_and(process::alive);
        if alive == is_alive && (alive || svc.is_none()) {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!(
                "{service} did not {} within {}s — see `wsctl logs {service}`",
                if alive { "start" } else { "stop" },
                timeout.as_secs()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
