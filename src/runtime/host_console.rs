//! The web console in container mode: not a container but a child of the watcher on the
//! host, started with the same command the native supervisor uses
//! (`stack::console::spec`), so it reads the same state directory and engine as the CLI.
//! The watcher restarts it when it exits and stops it before `compose down`.

use std::time::{Duration, Instant};

use anyhow::bail;
use tokio::process::Child;

use crate::stack::console::{spec, SERVICE};
use crate::stack::process::{stop_child, ServiceSpec};
use crate::stack::state::{ServiceStatus, StackState, StateDir};

/// How long a fresh console may take to answer /health.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct HostConsole {
    running: Option<(ServiceSpec, Child)>,
    restarts: u32,
    last_exit: Option<String>,
}

impl HostConsole {
    /// Starts it (when the stack has a console port) and waits until it answers.
    pub async fn start(&mut self, dir: &StateDir, state: &StackState) -> anyhow::Result<()> {
        let Some(spec) = spec(dir, state)? else {
            return Ok(());
        };
        let port = state.console_port.unwrap_or_default();
        self.spawn(spec)?;
        wait_healthy(port).await
    }

    fn spawn(&mut self, spec: ServiceSpec) -> anyhow::Result<()> {
        let child = spec.spawn()?;
        self.running = Some((spec, child));
        Ok(())
    }

    /// Restarts it if it exited since the last look (called on the watcher's tick).
    pub fn supervise(&mut self) {
        let Some((spec, child)) = &mut self.running else {
            return;
        };
        if let Ok(Some(status)) = child.try_wait() {
            tracing::warn!(%status, "the console exited; restarting it");
            self.last_exit = Some(status.to_string());
            match spec.spawn() {
                Ok(new) => {
                    *child = new;
                    self.restarts += 1;
                }
                Err(e) => tracing::error!(error = %format!("{e:#}"), "restarting the console"),
            }
        }
    }

    pub async fn stop(&mut self) {
        if let Some((spec, mut child)) = self.running.take() {
            stop_child(&mut child, spec.stop_signal, Duration::from_secs(5)).await;
        }
    }

    /// Its line in status.json, next to the containers'.
    pub fn status(&self) -> Option<ServiceStatus> {
        let (spec, child) = self.running.as_ref()?;
        Some(ServiceStatus {
            name: SERVICE.into(),
            pid: child.id(),
            restarts: self.restarts,
            last_exit: self.last_exit.clone(),
            log: spec.log.clone(),
            down_since: None,
        })
    }
}

async fn wait_healthy(port: u16) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{port}/health");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if http
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!(
        "the console did not answer {url} within {} s — see `wsctl logs {SERVICE}`",
        READY_TIMEOUT.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(tmp: &std::path::Path, script: &str) -> ServiceSpec {
        ServiceSpec {
            name: SERVICE.into(),
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: vec![],
            cwd: None,
            run_as: None,
            log: tmp.join("console.log"),
            stop_signal: libc::SIGTERM,
            death_signal: libc::SIGTERM,
        }
    }

    /// A real child that exits is started again, and its exit shows in status.json.
    #[tokio::test]
    async fn an_exited_console_is_restarted_and_stop_ends_it() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = HostConsole::default();
        c.spawn(spec(tmp.path(), "exit 3")).unwrap();
        let first = c.status().unwrap().pid.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.supervise();
        let s = c.status().unwrap();
        assert_eq!(s.restarts, 1);
        assert_eq!(s.last_exit.as_deref(), Some("exit status: 3"));
        assert_ne!(s.pid, Some(first));

        let mut c = HostConsole::default();
        c.spawn(spec(tmp.path(), "exec sleep 60")).unwrap();
        let pid = c.status().unwrap().pid.unwrap();
        c.stop().await;
        assert!(c.status().is_none());
        assert!(!crate::stack::process::alive(pid), "pid {pid} still runs");
    }
}
