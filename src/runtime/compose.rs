//! Compose: the stack is one compose project (`stack::containers`) under the watcher; the
//! engine restarts containers, data lives in named volumes.

use std::time::{Duration, Instant};

use anyhow::Context;

use super::{native::Native, ComposeStatus, Down, Logs, Purged, Runtime, StatusReport};
use crate::stack::containers;
use crate::stack::control::stop_supervisor;
use crate::stack::state::{ContainerState, Lock, Phase, StackState, StateDir};

pub struct Compose {
    pub state: Box<StackState>,
    pub c: ContainerState,
}

#[async_trait::async_trait]
impl Runtime for Compose {
    /// Stops the watcher (which runs `compose down`), or the project directly when no
    /// watcher runs. Volumes are kept.
    async fn down(&self, dir: &StateDir) -> anyhow::Result<Down> {
        let started = Instant::now();
        if stop_supervisor(dir, "watcher", Duration::from_secs(90)).await? {
            return Ok(Down::Stopped {
                took: started.elapsed(),
            });
        }
        if self.c.containers()?.is_empty() {
            return Ok(Down::NotRunning);
        }
        containers::write_files(dir, &self.state)?;
        self.c
            .compose(dir, &self.state, &["down", "--remove-orphans"])?;
        Ok(Down::ContainersWithoutWatcher {
            project: self.c.project.clone(),
            took: started.elapsed(),
        })
    }

    fn purge(&self, dir: &StateDir) -> anyhow::Result<Purged> {
        containers::write_files(dir, &self.state)?;
        self.c
            .compose(dir, &self.state, &["down", "--volumes", "--remove-orphans"])?;
        std::fs::remove_dir_all(&dir.root)
            .with_context(|| format!("removing {}", dir.root.display()))?;
        Ok(Purged::Compose {
            project: self.c.project.clone(),
            root: dir.root.clone(),
        })
    }

    fn status(&self, dir: &StateDir) -> anyhow::Result<StatusReport> {
        let running = Lock::is_held(&dir.lock_file())?;
        let phase = if running {
            dir.load_status().map(|s| s.phase)
        } else {
            Some(Phase::Stopped)
        };
        let list = self.c.containers()?;
        Ok(StatusReport::Compose(Box::new(ComposeStatus {
            state: (*self.state).clone(),
            c: self.c.clone(),
            running,
            phase,
            list,
            watcher_pid: dir.load_status().map_or(0, |s| s.supervisor_pid),
        })))
    }

    /// `compose logs`; the watcher's own log stays a file (`wsctl logs supervisor`).
    fn logs(&self, dir: &StateDir, service: Option<&str>, follow: bool) -> anyhow::Result<Logs> {
        if service == Some("supervisor") {
            return Native.logs(dir, service, follow);
        }
        let mut cmd = self.c.compose_cmd(dir, &self.state);
        cmd.args(["logs", "--no-color"]);
        if follow {
            cmd.arg("--follow");
        }
        if let Some(s) = service {
            cmd.arg(containers::compose_service(s));
        }
        Ok(Logs::Command {
            cmd,
            what: self.c.compose.join(" "),
        })
    }
}
