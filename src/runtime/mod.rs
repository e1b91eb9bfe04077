//! How a stack's services run: as local processes under the supervisor (`native`), or as a
//! compose project under the watcher (`compose`, `wsctl up --containers`). Both hold the
//! state directory's lock while the stack is up and mirror the services into status.json;
//! what differs is behind [`Runtime`]. Nothing here prints.

pub mod compose;
pub mod lifecycle;
pub mod native;
pub mod plan;

use std::path::PathBuf;
use std::time::Duration;

use crate::stack::containers::Container;
use crate::stack::state::{ContainerState, Phase, StackState, StateDir, Status};

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

/// A compose project's containers as the engine reports them.
pub struct ComposeStatus {
    pub state: StackState,
    pub c: ContainerState,
    pub running: bool,
    pub phase: Option<Phase>,
    pub list: Vec<Container>,
    /// The watcher's pid from status.json (0 when there is none).
    pub watcher_pid: u32,
}

/// Where `wsctl logs` reads from.
pub enum Logs {
    /// Log files, in order (native services, and the supervisor or watcher itself).
    Files(Vec<PathBuf>),
    /// A command that prints them (`compose logs`); `what` names it in errors.
    Command {
        cmd: std::process::Command,
        what: String,
    },
}

#[async_trait::async_trait]
pub trait Runtime: Send + Sync {
    /// Stops the stack's services; its data stays.
    async fn down(&self, dir: &StateDir) -> anyhow::Result<Down>;
    /// After `down`: deletes the stack's data.
    fn purge(&self, dir: &StateDir) -> anyhow::Result<Purged>;
    fn status(&self, dir: &StateDir) -> anyhow::Result<StatusReport>;
    fn logs(&self, dir: &StateDir, service: Option<&str>, follow: bool) -> anyhow::Result<Logs>;
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
