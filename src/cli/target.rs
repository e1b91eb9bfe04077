//! The line every command that changes something prints first: which stack, where, which
//! backend, and the branch or snapshot it touches. On stderr, so scripts reading stdout keep
//! their output.

use super::{BranchCmd, Command, SnapshotCmd};
use crate::engine::target::Target;
use crate::stack::state::StateDir;

/// What `command` changes: `None` when it only reads.
fn subject(command: &Command) -> Option<Option<String>> {
    let branch = |n: &str| Some(Some(format!("branch {n}")));
    let snapshot = |n: &str| Some(Some(format!("snapshot {n}")));
    match command {
        // Each stack it stops is named as it goes.
        Command::Down { all: true, .. } => None,
        Command::Up(_)
        | Command::Down { .. }
        | Command::Init {
            database_url: None, ..
        } => Some(None),
        Command::Import(_) => Some(Some("import".into())),
        Command::Rollback { to, .. } => Some(Some(format!(
            "rollback of main to {}",
            to.as_deref().unwrap_or("the newest automatic snapshot")
        ))),
        Command::Migrate { check, cmd: None } => Some(Some(
            if *check {
                "migrate --check"
            } else {
                "migrate main"
            }
            .into(),
        )),
        Command::Doctor { fix: true, .. } => Some(Some("doctor --fix".into())),
        Command::Branch(
            BranchCmd::Create { name, .. }
            | BranchCmd::Delete { name, .. }
            | BranchCmd::Protect { name, .. }
            | BranchCmd::Unprotect { name }
            | BranchCmd::Switch { name }
            | BranchCmd::Promote { name },
        ) => branch(name),
        Command::Snapshot(SnapshotCmd::Create { name, .. }) => {
            snapshot(name.as_deref().unwrap_or("(new)"))
        }
        Command::Snapshot(
            SnapshotCmd::Delete { name, .. }
            | SnapshotCmd::Protect { name }
            | SnapshotCmd::Unprotect { name },
        ) => snapshot(name),
        Command::Snapshot(SnapshotCmd::Prune { .. }) => Some(Some("snapshot prune".into())),
        _ => None,
    }
}

pub fn announce(dir: &StateDir, command: &Command) {
    if let Some(subject) = subject(command) {
        let mut target = Target::of(dir);
        if let Command::Up(args) = command {
            target.backend = args.backend.unwrap_or(target.backend);
            target.containers |= args.containers;
        }
        eprintln!("{}", target.line(subject.as_deref()));
    }
}
