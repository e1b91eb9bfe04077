//! The operations `wsctl` offers, for any front end: open the stack in a state directory,
//! then act on it through its storage backend. Nothing here prints.

pub mod branches;
pub mod console;
pub mod database;
pub mod destroy;
pub mod diff;
pub mod doctor;
pub mod env;
pub mod import;
pub mod lifecycle;
pub mod migrate;
pub mod registry;
pub mod stacks;
pub mod target;
pub mod up;

use anyhow::Context;

use crate::stack::state::{Lock, StackState, StateDir};

/// The exit code of every command that needs a running stack and finds it stopped (or never
/// started); `wsctl status` exits with it too.
pub const NOT_RUNNING_EXIT: i32 = 3;

/// `wsctl status`'s exit code while a service of a running stack is down or restarting.
pub const DEGRADED_EXIT: i32 = 4;

pub use crate::stack::state::NotRunning;

/// The state.json of the stack in `dir` if its supervisor (or watcher) runs, else
/// [`NotRunning`]. A corrupt state.json is still named as such.
pub fn require_running(dir: &StateDir) -> anyhow::Result<StackState> {
    match dir.load()? {
        Some(state) if Lock::is_held(&dir.lock_file())? => Ok(state),
        _ => Err(NotRunning {
            dir: dir.root.clone(),
        }
        .into()),
    }
}

/// The stack's state.json, or an error that says how to make one.
pub fn require_state(dir: &StateDir) -> anyhow::Result<StackState> {
    dir.load()?.with_context(|| {
        format!(
            "no stack in {} — run `wsctl up` first (or pass --state-dir)",
            dir.root.display()
        )
    })
}
