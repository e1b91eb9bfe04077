//! Storage backends: what differs between a stack on plain PostgreSQL (`postgres`: branches
//! and snapshots are databases copied with `CREATE DATABASE … TEMPLATE`) and one on Neon
//! (`neon`: they are timelines on the pageserver, a branch with a compute of its own).
//!
//! A backend works on a running stack. When it changes the services that run (a compute for
//! a new branch, a preview API), it saves state.json and has the lock holder act on it
//! (`stack::control`); it never runs services itself.

pub mod neon;
pub mod postgres;

use std::time::Duration;

use anyhow::bail;

use crate::branch::{Meta, MigrateOutcome, Name, Rollback};
use crate::stack::control::{reload_supervisor, wait_service};
use crate::stack::neon::NeonBranch;
use crate::stack::state::{BackendKind, StackState, StateDir, StateLock};

/// Per table of the workspace schema: rows and a checksum of their contents.
pub type Counts = Vec<(String, i64, String)>;

/// `wsctl branch list`: main and its branches, as the backend keeps them.
pub enum Branches {
    /// Database copies, main first.
    Copies(Vec<Meta>),
    /// Timelines: main's, and one per branch with its compute's port.
    Timelines {
        main_timeline: String,
        main_port: u16,
        branches: Vec<NeonBranch>,
    },
}

impl Branches {
    /// Every branch's name, main first.
    pub fn names(&self) -> Vec<String> {
        match self {
            Branches::Copies(metas) => metas.iter().map(|m| m.name.clone()).collect(),
            Branches::Timelines { branches, .. } => {
                std::iter::once(crate::branch::MAIN.to_string())
                    .chain(branches.iter().map(|b| b.name.clone()))
                    .collect()
            }
        }
    }
}

/// A branch just made.
pub struct Created {
    pub name: String,
    pub took: Duration,
    /// Neon: the branch's timeline, LSN and compute.
    pub timeline: Option<NeonBranch>,
}

/// A snapshot just taken.
pub struct Snap {
    pub meta: Meta,
    pub took: Duration,
    /// Neon: the snapshot's timeline.
    pub timeline: Option<String>,
}

/// `migrate --check`: what the pending migrations did to a throwaway copy of main.
pub struct MigrateCheck {
    pub applied: Vec<i32>,
    pub current: bool,
    pub counts: Counts,
}

/// The operations whose implementation differs per backend.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    fn kind(&self) -> BackendKind;
    fn state(&self) -> &StackState;
    fn state_mut(&mut self) -> &mut StackState;
    /// The lock on state.json this backend was opened with (`engine::branches::open_for_change`);
    /// an error for one opened for reading.
    fn lock(&self) -> anyhow::Result<&StateLock>;
    async fn branches(&mut self) -> anyhow::Result<Branches>;
    async fn has_branch(&mut self, name: &str) -> anyhow::Result<bool>;
    /// `at`: a point in time (an LSN or a timestamp); only neon has history to branch from.
    async fn create_branch(
        &mut self,
        name: &str,
        from: &str,
        at: Option<String>,
    ) -> anyhow::Result<Created>;
    /// Refuses main, a missing branch, one with children or the one the API serves; stops
    /// its preview API first. Returns the timeline it deleted (neon).
    async fn delete_branch(&mut self, name: &str) -> anyhow::Result<Option<String>>;
    async fn snapshots(&mut self) -> anyhow::Result<Vec<Meta>>;
    async fn snapshot(&mut self, name: Option<Name>) -> anyhow::Result<Snap>;
    async fn delete_snapshot(&mut self, name: &str) -> anyhow::Result<()>;
    /// Main's per-table counts and checksums.
    async fn counts(&self) -> anyhow::Result<Counts>;
    async fn rollback(&mut self, to: Option<Name>) -> anyhow::Result<Rollback>;
    /// Applies the pending migrations to a throwaway copy of main, always deleted after.
    async fn migrate_check(&mut self) -> anyhow::Result<MigrateCheck>;
    /// Snapshot, migrate main; a failed migration restores main (`rolled_back_after`).
    async fn migrate(&mut self) -> anyhow::Result<MigrateOutcome>;
    /// Puts main back to the snapshot `migrate` took (the health suite failed after it).
    async fn undo_migrate(&mut self, snapshot: &Meta) -> anyhow::Result<()>;
    /// A new branch of main to import into; its connection settings.
    async fn import_target(
        &mut self,
        name: &Name,
        source: &str,
    ) -> anyhow::Result<tokio_postgres::Config>;
    /// Deletes an import branch; nothing when it is not there.
    async fn drop_import(&mut self, name: &str) -> anyhow::Result<()>;
    /// Makes the import branch main; returns the snapshot that holds main as it was.
    async fn cutover(&mut self, name: &str, source: &str) -> anyhow::Result<String>;
}

/// The backend of a running stack: an admin connection (postgres) or its pageserver (neon).
/// `lock`: state.json's lock, held since before `state` was loaded, for a backend that
/// changes state.json; `None` for one that only reads (saving through it is an error).
pub async fn open(
    dir: &StateDir,
    state: StackState,
    lock: Option<StateLock>,
) -> anyhow::Result<Box<dyn Backend + '_>> {
    Ok(match state.backend {
        BackendKind::Postgres => Box::new(postgres::Postgres::open(dir, state, lock).await?),
        BackendKind::Neon => Box::new(neon::Neon::open(dir, state, lock)?),
    })
}

/// What `Backend::lock` returns: the lock, or why this backend cannot change state.json.
fn held(lock: &Option<StateLock>) -> anyhow::Result<&StateLock> {
    lock.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "internal error: a backend opened for reading was asked to change state.json \
             (open it with engine::branches::open_for_change)"
        )
    })
}

/// A branch can go only when it has no children and the API does not serve it.
pub fn ensure_deletable<'a>(
    state: &StackState,
    name: &str,
    children: impl Iterator<Item = &'a str>,
) -> anyhow::Result<()> {
    let children: Vec<&str> = children.collect();
    if !children.is_empty() {
        bail!(
            "branch {name} has children ({}); delete them first",
            children.join(", ")
        );
    }
    if state.active_branch.as_deref() == Some(name) {
        bail!("the API serves branch {name}; `wsctl branch switch main` first");
    }
    Ok(())
}

/// Stops the preview API of `branch`, if it has one.
pub async fn remove_preview(
    dir: &StateDir,
    state: &mut StackState,
    lock: &StateLock,
    branch: &str,
) -> anyhow::Result<()> {
    let Some(preview) = state.previews.iter().find(|p| p.branch == branch).cloned() else {
        return Ok(());
    };
    state.previews.retain(|p| p.branch != branch);
    dir.save(state, lock)?;
    reload_supervisor(dir)?;
    wait_service(
        dir,
        &preview.service(),
        false,
        std::time::Duration::from_secs(30),
    )
    .await
}
