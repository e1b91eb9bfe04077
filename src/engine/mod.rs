//! The operations `wsctl` offers, for any front end: open the stack in a state directory,
//! then act on it through its storage backend. Nothing here prints.

pub mod branches;
pub mod database;
pub mod destroy;
pub mod diff;
pub mod doctor;
pub mod import;
pub mod lifecycle;
pub mod registry;
pub mod stacks;
pub mod target;
pub mod up;

use anyhow::Context;

use crate::stack::state::{StackState, StateDir};

/// The stack's state.json, or an error that says how to make one.
pub fn require_state(dir: &StateDir) -> anyhow::Result<StackState> {
    dir.load()?.with_context(|| {
        format!(
            "no stack in {} — run `wsctl up` first (or pass --state-dir)",
            dir.root.display()
        )
    })
}
