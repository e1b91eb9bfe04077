//! branch, snapshot, rollback and migrate (postgres backend; the neon backend's are in
//! `neon_cmds`, which shares the helpers at the end of this file).

use anyhow::bail;

use super::{BranchCmd, SnapshotCmd};
use crate::branch::{self, Kind, Meta, Name, MAIN};
use crate::db::migrations;
use crate::engine::require_state;
use crate::stack::control::{reload_supervisor, wait_service};
use crate::stack::state::{BackendKind, Lock, StackState, StateDir};
use crate::stack::supervisor::pg_config;

/// The running stack's state and an admin connection to its cluster.
async fn admin(dir: &StateDir) -> anyhow::Result<(StackState, tokio_postgres::Client)> {
    let state = require_state(dir)?;
    if !Lock::is_held(&dir.lock_file())? {
        bail!("the stack is not running — `wsctl up` first");
    }
    let client = crate::db::connect(&pg_config(dir, &state, "postgres")?).await?;
    Ok((state, client))
}

pub(super) fn print_metas(metas: &[Meta], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(metas)?);
        return Ok(());
    }
    for m in metas {
        println!(
            "{:30} {:8} from {:20} {}{}",
            m.name,
            format!("{:?}", m.kind).to_lowercase(),
            m.parent,
            m.created_at.format("%Y-%m-%d %H:%M:%S"),
            m.reason
                .as_ref()
                .map_or(String::new(), |r| format!("  ({r})"))
        );
    }
    Ok(())
}

pub async fn branch(dir: &StateDir, cmd: BranchCmd) -> anyhow::Result<i32> {
    if require_state(dir)?.backend == BackendKind::Neon {
        return super::neon_cmds::branch(dir, cmd).await;
    }
    let (mut state, admin) = admin(dir).await?;
    let all = branch::list(&admin).await?;
    let is_branch =
        |name: &str| name == MAIN || all.iter().any(|m| m.kind == Kind::Branch && m.name == name);
    match cmd {
        BranchCmd::Create {
            name,
            from,
            at,
            api,
        } => {
            if at.is_some() {
                bail!("point-in-time branches (--at) need the neon backend; the postgres backend can only copy a branch as it is now");
            }
            let name = Name::parse(&name)?;
            if name.as_str() == MAIN || is_branch(name.as_str()) {
                bail!("branch {} already exists", name.as_str());
            }
            if !is_branch(&from) {
                bail!("no branch named {from} — see `wsctl branch list`");
            }
            let meta = Meta {
                kind: Kind::Branch,
                name: name.as_str().to_string(),
                parent: from.clone(),
                created_at: chrono::Utc::now(),
                automatic: false,
                reason: None,
            };
            let took = branch::copy_database(
                &admin,
                &branch::branch_db(&state.database, &from),
                &branch::branch_db(&state.database, name.as_str()),
                &meta,
                true,
            )
            .await?;
            println!(
                "Created branch {} from {from} in {:.2} s.",
                name.as_str(),
                took.as_secs_f64()
            );
            if api {
                add_preview(dir, &mut state, name.as_str()).await?;
            }
        }
        BranchCmd::List { json } => {
            let mut branches = vec![Meta {
                kind: Kind::Branch,
                name: MAIN.into(),
                parent: String::new(),
                created_at: branch::database_created_at(&admin, &state.database)
                    .await
                    .unwrap_or(chrono::DateTime::UNIX_EPOCH),
                automatic: false,
                reason: Some("the stack's database".into()),
            }];
            branches.extend(all.into_iter().filter(|m| m.kind == Kind::Branch));
            print_metas(&branches, json)?;
        }
        BranchCmd::Delete { name } => {
            if name == MAIN {
                bail!("main cannot be deleted");
            }
            if !is_branch(&name) {
                bail!("no branch named {name}");
            }
            let children = all
                .iter()
                .filter(|m| m.kind == Kind::Branch && m.parent == name)
                .map(|m| m.name.as_str());
            ensure_deletable(&state, &name, children)?;
            remove_preview(dir, &mut state, &name).await?;
            branch::drop_database(&admin, &branch::branch_db(&state.database, &name)).await?;
            println!("Deleted branch {name}.");
        }
        BranchCmd::Switch { name } => {
            if !is_branch(&name) {
                bail!("no branch named {name}");
            }
            state.active_branch = (name != MAIN).then(|| name.clone());
            switch_to(dir, &state, &name).await?;
        }
    }
    Ok(0)
}

pub async fn snapshot(dir: &StateDir, cmd: SnapshotCmd) -> anyhow::Result<i32> {
    if require_state(dir)?.backend == BackendKind::Neon {
        return super::neon_cmds::snapshot(dir, cmd).await;
    }
    let (state, admin) = admin(dir).await?;
    match cmd {
        SnapshotCmd::Create { name } => {
            let name = name.as_deref().map(Name::parse).transpose()?;
            let (meta, took) =
                branch::snapshot(&admin, &state.database, MAIN, name, false, None).await?;
            println!(
                "Snapshot {} of main taken in {:.2} s.",
                meta.name,
                took.as_secs_f64()
            );
        }
        SnapshotCmd::List { json } => {
            let snaps: Vec<Meta> = branch::list(&admin)
                .await?
                .into_iter()
                .filter(|m| m.kind == Kind::Snapshot)
                .collect();
            print_metas(&snaps, json)?;
        }
        SnapshotCmd::Delete { name } => {
            let exists = branch::list(&admin)
                .await?
                .iter()
                .any(|m| m.kind == Kind::Snapshot && m.name == name);
            if !exists {
                bail!("no snapshot named {name}");
            }
            branch::drop_database(&admin, &branch::snapshot_db(&name)).await?;
            println!("Deleted snapshot {name}.");
        }
    }
    Ok(0)
}

async fn counts(dir: &StateDir, state: &StackState) -> anyhow::Result<Vec<(String, i64, String)>> {
    let client = crate::db::connect(&pg_config(dir, state, &state.database)?).await?;
    branch::checksums(&client).await
}

pub async fn rollback(dir: &StateDir, to: Option<String>) -> anyhow::Result<i32> {
    if require_state(dir)?.backend == BackendKind::Neon {
        return super::neon_cmds::rollback(dir, to).await;
    }
    let (state, admin) = admin(dir).await?;
    let to = to.as_deref().map(Name::parse).transpose()?;
    let before = counts(dir, &state).await?;
    let r = branch::rollback(&admin, &state.database, to).await?;
    let after = counts(dir, &state).await?;
    print_rollback(&r, &before, &after);
    let report = crate::health::run(dir, &state).await;
    print!("{}", report.to_table());
    Ok(if report.passed() { 0 } else { 1 })
}

/// What a rollback restored and, per table, what changed.
pub(super) fn print_rollback(
    r: &branch::Rollback,
    before: &[(String, i64, String)],
    after: &[(String, i64, String)],
) {
    println!(
        "Restored main to snapshot {} (taken {}) in {:.2} s; the state before is snapshot {}.",
        r.restored.name,
        r.restored.created_at.format("%Y-%m-%d %H:%M:%S"),
        r.took.as_secs_f64(),
        r.before.name
    );
    for ((table, n_before, h_before), (_, n_after, h_after)) in before.iter().zip(after.iter()) {
        let changed = if h_before == h_after {
            "unchanged"
        } else {
            "changed"
        };
        println!("  {table:24} {n_before:>9} rows → {n_after:>9} rows  ({changed})");
    }
}

pub async fn migrate(dir: &StateDir, check: bool, status_only: bool) -> anyhow::Result<i32> {
    let state = require_state(dir)?;
    if status_only {
        let client = crate::db::connect(&pg_config(dir, &state, &state.database)?).await?;
        for m in migrations::status(&client).await? {
            println!(
                "{:>4}  {:32} {}  {}",
                m.version,
                m.name,
                &m.checksum[..16],
                m.applied_at.map_or("pending".into(), |t| format!(
                    "applied {}",
                    t.format("%Y-%m-%d %H:%M:%S")
                ))
            );
        }
        return Ok(0);
    }
    if state.backend == BackendKind::Neon {
        return super::neon_cmds::migrate(dir, check).await;
    }
    let (state, admin) = admin(dir).await?;
    if check {
        let name = format!(
            "migrate-check-{}",
            chrono::Utc::now().format("%Y%m%d%H%M%S")
        );
        let meta = Meta {
            kind: Kind::Branch,
            name: name.clone(),
            parent: MAIN.into(),
            created_at: chrono::Utc::now(),
            automatic: true,
            reason: Some("migrate --check".into()),
        };
        let db = branch::branch_db(&state.database, &name);
        branch::copy_database(&admin, &state.database, &db, &meta, true).await?;
        let result = async {
            let mut client = crate::db::connect(&pg_config(dir, &state, &db)?).await?;
            let applied = migrations::migrate(&mut client).await?;
            let ok = migrations::state(&client).await? == migrations::SchemaState::Current;
            let sums = branch::checksums(&client).await?;
            anyhow::Ok((applied, ok, sums))
        }
        .await;
        branch::drop_database(&admin, &db).await?;
        let (applied, ok, sums) = result?;
        println!("On a throwaway copy of main: applied {applied:?}; schema current: {ok}; main untouched.");
        for (t, n, _) in sums {
            println!("  {t:24} {n:>9} rows");
        }
        return Ok(if ok { 0 } else { 1 });
    }
    let main = pg_config(dir, &state, &state.database)?;
    let outcome =
        branch::safe_migrate(&admin, &main, &state.database, migrations::MIGRATIONS).await?;
    if let Some(error) = outcome.rolled_back_after {
        println!(
            "Migration failed: {error}\nMain was restored from snapshot {}; nothing changed.",
            outcome.snapshot.name
        );
        return Ok(1);
    }
    println!(
        "Applied {:?} (snapshot {} taken first).",
        outcome.applied, outcome.snapshot.name
    );
    let report = crate::health::run(dir, &state).await;
    if !report.passed() {
        print!("{}", report.to_table());
        branch::replace_database(
            &admin,
            &state.database,
            &branch::snapshot_db(&outcome.snapshot.name),
        )
        .await?;
        println!(
            "The health suite failed after migrating; main was restored from snapshot {}.",
            outcome.snapshot.name
        );
        return Ok(1);
    }
    println!("Health suite passed ({} checks).", report.checks.len());
    Ok(0)
}

/// Saves the new active branch, has the supervisor restart the API on it, and waits until the
/// API is ready there.
pub(super) async fn switch_to(
    dir: &StateDir,
    state: &StackState,
    name: &str,
) -> anyhow::Result<()> {
    let api_pid = || {
        dir.load_status()
            .and_then(|s| s.services.into_iter().find(|x| x.name == "workspace-api"))
            .and_then(|x| x.pid)
    };
    if dir
        .load()?
        .is_some_and(|current| current.active_branch == state.active_branch)
    {
        println!("The API already serves branch {name}.");
        return Ok(());
    }
    let before = api_pid();
    dir.save(state)?;
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
            println!("The API now serves branch {name}.");
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    bail!("the API did not come back on branch {name} — see `wsctl logs workspace-api`")
}

/// Starts a preview API for `branch` on a free port and waits until it is healthy.
pub(super) async fn add_preview(
    dir: &StateDir,
    state: &mut StackState,
    branch: &str,
) -> anyhow::Result<()> {
    let preview = crate::stack::state::Preview {
        branch: branch.to_string(),
        port: crate::stack::ports::free_port()?,
    };
    state.previews.push(preview.clone());
    dir.save(state)?;
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
    println!(
        "Preview API for {branch}: http://127.0.0.1:{}",
        preview.port
    );
    Ok(())
}

/// Stops the preview API of `branch`, if it has one.
pub(super) async fn remove_preview(
    dir: &StateDir,
    state: &mut StackState,
    branch: &str,
) -> anyhow::Result<()> {
    let Some(preview) = state.previews.iter().find(|p| p.branch == branch).cloned() else {
        return Ok(());
    };
    state.previews.retain(|p| p.branch != branch);
    dir.save(state)?;
    reload_supervisor(dir)?;
    wait_service(
        dir,
        &preview.service(),
        false,
        std::time::Duration::from_secs(30),
    )
    .await
}

/// A branch can go only when it has no children and the API does not serve it.
pub(super) fn ensure_deletable<'a>(
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
