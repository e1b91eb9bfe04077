//! The stack a command acts on, named: `name` in workspace-stack.toml, else the name state.json
//! recorded, else the project directory's (the one holding the state directory). `--stack NAME`
//! refuses to act on a stack with another name, so a shell in the wrong directory fails instead
//! of changing the wrong database.

use anyhow::bail;

use super::up::file_config;
use crate::stack::state::{BackendKind, StackState, StateDir};

/// The stack in a state directory, as far as it can be told without it running (a corrupt
/// state.json still has a name and a directory, so `down --destroy` can say what it destroys).
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub dir: std::path::PathBuf,
    pub backend: BackendKind,
    pub containers: bool,
}

/// The name `up` gives this stack (see `runtime::plan::stack_name`).
pub fn stack_name(dir: &StateDir, previous: Option<&StackState>) -> String {
    let from_file = file_config(dir).ok().and_then(|f| f.name);
    crate::runtime::plan::stack_name(dir, from_file, previous)
}

impl Target {
    pub fn of(dir: &StateDir) -> Target {
        let state = dir.load().ok().flatten();
        let backend = state
            .as_ref()
            .map(|s| s.backend)
            .or_else(|| file_config(dir).ok().and_then(|f| f.backend))
            .unwrap_or(BackendKind::Postgres);
        Target {
            name: stack_name(dir, state.as_ref()),
            dir: dir.root.clone(),
            backend,
            containers: state.is_some_and(|s| s.containers.is_some()),
        }
    }

    /// One line: `stack shop · /src/shop/.workspace-stack · postgres backend, processes ·
    /// branch feature`.
    pub fn line(&self, subject: Option<&str>) -> String {
        let backend = format!("{:?}", self.backend).to_lowercase();
        let runtime = if self.containers {
            "containers"
        } else {
            "processes"
        };
        let mut line = format!(
            "stack {} · {} · {backend} backend, {runtime}",
            self.name,
            self.dir.display()
        );
        if let Some(subject) = subject {
            line.push_str(" · ");
            line.push_str(subject);
        }
        line
    }
}

/// `--stack NAME` / WSCTL_STACK: the stack in `dir` must be called `want`.
pub fn check(dir: &StateDir, want: &str) -> anyhow::Result<()> {
    let target = Target::of(dir);
    if target.name != want {
        bail!(
            "refusing to act: --stack {want} was given, but {} holds stack {} — cd to {want}'s \
             project directory (or pass its --state-dir), or drop --stack",
            target.dir.display(),
            target.name
        );
    }
    Ok(())
}
