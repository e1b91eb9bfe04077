//! How a stack's services run: as local processes under the supervisor (`native`), or as a
//! compose project under the watcher (`compose`, `wsctl up --containers`). Both hold the
//! state directory's lock while the stack is up and mirror the services into status.json;
//! what differs is behind [`Runtime`]. Nothing here prints.

pub mod compose;
pub mod compose_logs;
mod host_console;
pub mod lifecycle;
pub mod log_lines;
pub mod native;
pub mod plan;
pub mod supervisor;
pub mod watcher;

use std::path::PathBuf;
use std::time::Duration;

use crate::stack::containers::Container;
use crate::stack::state::{ContainerState, Phase, ServiceStatus, StackState, StateDir, Status};

/// What `down` found and did.
pub enum Down {
    /// The lock holder (supervisor or watcher) stopped.
    Stopped {
        took: Duration,
    },
    /// Compose: containers ran without a watcher; they were stopped directly.
    ContainersWithoutWatcher {
        project: String,
        took: Duration,
    },
    /// Native: a PostgreSQL left from a crash, without a supervisor, was stopped.
    LeftoverPostmaster {
        pid: u32,
    },
    NotRunning,
}

/// What `down --purge` deleted.
pub enum Purged {
    /// The state directory (`None`: there was none).
    Native { root: Option<PathBuf> },
    /// The project's volumes and the state directory.
    Compose { project: String, root: PathBuf },
}

/// `wsctl status`, before it is printed.
pub enum StatusReport {
    Native(Box<NativeStatus>),
    Compose(Box<ComposeStatus>),
}

/// A native stack's state.json (if any), whether it runs, and its status.json.
pub struct NativeStatus {
    pub state: Option<StackState>,
    pub running: bool,
    pub status: Option<Status>,
}

impl NativeStatus {
    /// The services down or restarting while the stack is up: the stack is degraded.
    pub fn degraded(&self) -> Vec<&ServiceStatus> {
        match &self.status {
            Some(status) if self.running && status.phase == Phase::Ready => status
                .services
                .iter()
                .filter(|s| {
                    s.down_since.is_some() || !s.pid.is_some_and(crate::stack::process::alive)
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A compose project's containers as the engine reports them.
pub struct ComposeStatus {
    pub state: StackState,
    pub c: ContainerState,
    pub running: bool,
    pub phase: Option<Phase>,
    pub list: Vec<Container>,
    /// The watcher's pid from status.json (0 when there is none).
    pub watcher_pid: u32,
    /// What the watcher runs on the host beside the containers (the console), from
    /// status.json.
    pub host: Vec<crate::stack::state::ServiceStatus>,
}

/// Where `wsctl logs` reads from.
pub enum Logs {
    /// Log files, in order (native services, and the supervisor or watcher itself).
    Files(Vec<PathBuf>),
    /// `compose logs --timestamps` of the project (see compose_logs); `what` names the
    /// command in errors, `services` are the names its lines can carry.
    Compose {
        cmd: Box<std::process::Command>,
        what: String,
        project: String,
        services: Vec<String>,
    },
}

#[async_trait::async_trait]
pub trait Runtime: Send + Sync {
    /// Stops the stack's services; its data stays.
    async fn down(&self, dir: &StateDir) -> anyhow::Result<Down>;
    /// After `down`: deletes the stack's data.
    fn purge(&self, dir: &StateDir) -> anyhow::Result<Purged>;
    fn status(&self, dir: &StateDir) -> anyhow::Result<StatusReport>;
    /// `tail`: the last N lines of each service (the native runtime's reader applies it).
    fn logs(
        &self,
        dir: &StateDir,
        service: Option<&str>,
        follow: bool,
        tail: Option<usize>,
    ) -> anyhow::Result<Logs>;
}

/// The runtime of the stack in `dir`: compose when state.json names a compose project. A
/// corrupt state.json is left to the native runtime, whose commands name it (and
/// `down --purge` still cleans up).
pub fn for_dir(dir: &StateDir) -> Box<dyn Runtime> {
    match dir
        .load()
        .ok()
        .flatten()
        .and_then(|s| s.containers.clone().map(|c| (s, c)))
    {
        Some((state, c)) => Box::new(compose::Compose {
            state: Box::new(state),
            c,
        }),
        None => Box::new(native::Native),
    }
}

/// Runs the stack's supervisor in this process: the native one, or the watcher of a compose
/// project.
pub async fn supervise(dir: StateDir, state: StackState) -> anyhow::Result<()> {
    if state.containers.is_some() {
        watcher::Watcher::new(dir, state)?.run().await
    } else {
        supervisor::Supervisor::new(dir, state)?.run().await
    }
}
