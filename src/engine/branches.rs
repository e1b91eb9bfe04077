//! Branches, snapshots, rollback and migrations on a running stack, over its backend.

use anyhow::bail;

use crate::backend::{self, Backend, Counts};
use crate::branch::{Name, Rollback, MAIN};
use crate::stack::control::{reload_supervisor, wait_service};
use crate::stack::state::{Preview, StackState, StateDir, StateLock};

/// The backend of the running stack in `dir`, for an operation that changes it: holds
/// state.json's lock (waiting for another wsctl's operation to end) until the backend is
/// dropped, and reads state.json under it, so what it saves has no one else's change missing.
pub async fn open_for_change(dir: &StateDir) -> anyhow::Result<Box<dyn Backend + '_>> {
    if !dir.state_file().exists() {
        // Nothing to lock (and no state directory to make the lock file in).
        super::require_running(dir)?;
    }
    let lock = dir.lock_state_async().await?;
    let state = super::require_running(dir)?;
    backend::open(dir, state, Some(lock)).await
}

/// The backend of the running stack in `dir`, to list and look: takes no lock, so it never
/// waits for a writer; anything that would save state.json through it fails.
pub async fn open_for_reading(dir: &StateDir) -> anyhow::Result<Box<dyn Backend + '_>> {
    let state = super::require_running(dir)?;
    backend::open(dir, state, None).await
}

/// Whether `switch` changed the branch the API serves.
pub enum Switched {
    Already,
    Now,
}

/// Has the API serve branch `name` (main or a branch).
pub async fn switch(dir: &StateDir, b: &mut dyn Backend, name: &str) -> anyhow::Result<Switched> {
    if !b.has_branch(name).await? {
        bail!("no branch named {name}");
    }
    b.state_mut().active_branch = (name != MAIN).then(|| name.to_string());
    switch_to(dir, b.state(), b.lock()?, name).await
}

/// What a rollback restored, and main's tables before and after it.
pub struct RollbackReport {
    pub rollback: Rollback,
    pub before: Counts,
    pub after: Counts,
}

pub async fn rollback(b: &mut dyn Backend, to: Option<String>) -> anyhow::Result<RollbackReport> {
    let to = to.as_deref().map(Name::parse).transpose()?;
    let before = b.counts().await?;
    let rollback = b.rollback(to).await?;
    let after = b.counts().await?;
    Ok(RollbackReport {
        rollback,
        before,
        after,
    })
}

/// Saves the new active branch, has the supervisor restart the API on it, and waits until the
/// API is ready there.
pub async fn switch_to(
    dir: &StateDir,
    state: &StackState,
    lock: &StateLock,
    name: &str,
) -> anyhow::Result<Switched> {
    let api_pid = || {
        dir.load_status()
            .and_then(|s| s.services.into_iter().find(|x| x.name == "workspace-api"))
            .and_then(|x| x.pid)
    };
    if dir
        .load()?
        .is_some_and(|current| current.active_branch == state.active_branch)
    {
        return Ok(Switched::Already);
    }
    let before = api_pid();
    dir.save(state, lock)?;
    reload_supervisor(dir)?;
    let url = format!("http://127.0.0.1:{}/ready", state.api_port);
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .build()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        // Ready means: a new API process (the old one served the previous branch) answering.
        let restarted =
            api_pid().is_some_and(|p| Some(p) != before && crate::stack::process::alive(p));
        if restarted
            && http
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        {
            return Ok(Switched::Now);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    bail!("the API did not come back on branch {name} — see `wsctl logs workspace-api`")
}

/// Starts a preview API for `branch` on a free port and waits until it is healthy.
pub async fn add_preview(
    dir: &StateDir,
    b: &mut dyn Backend,
    branch: &str,
) -> anyhow::Result<Preview> {
    let preview = Preview {
        branch: branch.to_string(),
        port: crate::stack::ports::free_port()?,
    };
    b.state_mut().previews.push(preview.clone());
    dir.save(b.state(), b.lock()?)?;
    reload_supervisor(dir)?;
    wait_service(
        dir,
        &preview.service(),
        true,
        std::time::Duration::from_secs(60),
    )
    .await?;
    let url = format!("http://127.0.0.1:{}/health", preview.port);
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .build()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !http
        .get(&url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        if std::time::Instant::now() > deadline {
            bail!(
                "the preview API for {branch} did not become healthy — see `wsctl logs {}`",
                preview.service()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(preview)
}
