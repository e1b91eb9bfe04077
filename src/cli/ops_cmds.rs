//! doctor, branch diff, protect/unprotect, history, snapshot prune and the sweeper: parse,
//! call the engine, print.

use crate::backend::Backend;
use crate::branch::Kind;
use crate::engine::branches as engine;
use crate::engine::{diff, doctor, lifecycle};
use crate::stack::state::StateDir;

pub async fn doctor(dir: &StateDir, json: bool, fix: bool) -> anyhow::Result<i32> {
    let report = doctor::run(dir, fix).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "Stack in {} ({})",
            report.state_dir,
            if report.running {
                "running"
            } else {
                "not running"
            }
        );
        for f in &report.findings {
            let mark = match (f.severity, f.fixed) {
                (_, true) => "fixed",
                (doctor::Severity::Ok, _) => "ok",
                (doctor::Severity::Warning, _) => "warn",
                (doctor::Severity::Error, _) => "error",
            };
            println!("{mark:6} {:15} {}", f.check, f.message);
            if let (Some(fix), false) = (&f.fix, f.fixed) {
                println!("{:22}fix: {fix}", "");
            }
        }
    }
    Ok(if report.has_errors() { 1 } else { 0 })
}

pub async fn branch_diff(
    dir: &StateDir,
    backend: &mut dyn Backend,
    a: &str,
    b: Option<&str>,
    json: bool,
    sql: bool,
) -> anyhow::Result<i32> {
    let d = diff::branch_diff(dir, backend, a, b).await?;
    if sql {
        print!("{}", d.sql());
    } else if json {
        println!("{}", serde_json::to_string_pretty(&d.json())?);
    } else if d.ops.is_empty() {
        println!("No schema differences between branch {} and {}.", d.a, d.b);
    } else {
        println!(
            "Schema of branch {} against {} (+ only in {}, - only in {}):",
            d.a, d.b, d.a, d.b
        );
        print!("{}", d.text());
        let counts = crate::db::schema_diff::counts(&d.ops);
        let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
        println!("{} differences ({}).", d.ops.len(), parts.join(", "));
    }
    Ok(0)
}

pub async fn protect(
    dir: &StateDir,
    b: &mut dyn Backend,
    kind: Kind,
    name: &str,
    on: bool,
    force: bool,
) -> anyhow::Result<i32> {
    lifecycle::set_protected(dir, b, kind, name, on, force).await?;
    let what = if kind == Kind::Branch {
        "Branch"
    } else {
        "Snapshot"
    };
    if on {
        println!("{what} {name} is protected: deleting it needs --force.");
    } else {
        println!("{what} {name} is no longer protected.");
    }
    Ok(0)
}

pub fn history(dir: &StateDir, name: Option<&str>, json: bool) -> anyhow::Result<i32> {
    let state = crate::engine::require_state(dir)?;
    let events: Vec<_> = state
        .lifecycle
        .history
        .iter()
        .filter(|e| !name.is_some_and(|n| e.name != n))
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&events)?);
        return Ok(0);
    }
    for e in events {
        println!(
            "{}  {:8} {:30} {:14} {}",
            e.at.format("%Y-%m-%d %H:%M:%S"),
            format!("{:?}", e.kind).to_lowercase(),
            e.name,
            e.event,
            e.detail.as_deref().unwrap_or("")
        );
    }
    Ok(0)
}

pub async fn prune(
    dir: &StateDir,
    b: &mut dyn Backend,
    keep: Option<usize>,
) -> anyhow::Result<i32> {
    let keep = match keep {
        Some(k) => k,
        None => crate::engine::up::file_config(dir)?
            .snapshot_retention
            .unwrap_or(lifecycle::DEFAULT_SNAPSHOT_RETENTION),
    };
    let pruned = lifecycle::prune(dir, b, keep).await?;
    if pruned.is_empty() {
        println!(
            "Nothing to prune: at most {keep} automatic snapshots (or only ones that are kept)."
        );
    } else {
        println!(
            "Pruned {} automatic snapshots (keeping the newest {keep}): {}",
            pruned.len(),
            pruned.join(", ")
        );
    }
    Ok(0)
}

/// The sweeper the supervisor starts: expired branches and snapshots, then retention.
pub async fn sweep(dir: &StateDir) -> anyhow::Result<i32> {
    let mut b = engine::open_for_change(dir).await?;
    let done = lifecycle::sweep(dir, &mut *b).await?;
    let now = chrono::Utc::now().to_rfc3339();
    for name in &done.expired {
        println!("{now} expired {name}");
    }
    for name in &done.pruned {
        println!("{now} pruned {name}");
    }
    for (name, why) in &done.failed {
        println!("{now} could not expire {name}: {why}");
    }
    Ok(if done.failed.is_empty() { 0 } else { 1 })
}

/// `down --destroy` (and the first half of `up --clean`).
pub async fn destroy(dir: &StateDir, yes: bool) -> anyhow::Result<i32> {
    if dir.root.exists() {
        dir.check_purgeable()?;
    }
    let question = format!("Destroy the stack in {}?", dir.root.display());
    let what = "--destroy deletes every database, container, volume and file of this stack";
    if dir.root.exists() && !super::confirm::irreversible(what, &question, yes)? {
        return Ok(1);
    }
    let done = crate::engine::destroy::destroy(dir).await?;
    if let Some(e) = &done.stop_error {
        println!("Stopping failed ({e}); destroying anyway.");
    }
    match done.stopped {
        Some(crate::runtime::Down::Stopped { took }) => {
            println!("Stopped in {:.1} s.", took.as_secs_f64())
        }
        Some(crate::runtime::Down::ContainersWithoutWatcher { project, .. }) => {
            println!("Stopped the containers of project {project}.")
        }
        Some(crate::runtime::Down::LeftoverPostmaster { pid }) => {
            println!("Stopped a PostgreSQL (pid {pid}) left without a supervisor.")
        }
        Some(crate::runtime::Down::NotRunning) | None => {}
    }
    for r in &done.repaired {
        println!("Repaired: {r}.");
    }
    match done.purged {
        crate::runtime::Purged::Native { root: None } => {
            println!("No stack here; nothing to destroy.")
        }
        crate::runtime::Purged::Native { root: Some(root) } => {
            println!("Deleted {}.", root.display())
        }
        crate::runtime::Purged::Compose { project, root } => println!(
            "Deleted the containers and volumes of project {project} and {}.",
            root.display()
        ),
    }
    Ok(0)
}

pub fn ls(json: bool) -> anyhow::Result<i32> {
    let stacks = crate::engine::stacks::list()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&stacks)?);
        return Ok(0);
    }
    if stacks.is_empty() {
        println!("No stacks (`wsctl up` registers one).");
    }
    for s in &stacks {
        println!(
            "{:20} {:8} {:10} {:7} {}",
            s.name,
            s.backend,
            s.runtime,
            if s.running { "running" } else { "stopped" },
            s.dir.display()
        );
        if let (true, Some(api), Some(db)) = (s.running, &s.api_url, &s.database_url) {
            println!("{:20} API {api}  PostgreSQL {db}", "");
            for p in &s.previews {
                println!("{:20} preview {p}", "");
            }
        }
    }
    Ok(0)
}

pub async fn down_all() -> anyhow::Result<i32> {
    let results = crate::engine::stacks::down_all().await?;
    if results.is_empty() {
        println!("No stack is running.");
    }
    let mut failed = 0;
    for (s, result) in results {
        match result {
            Ok(_) => println!("Stopped stack {} ({}).", s.name, s.dir.display()),
            Err(e) => {
                failed += 1;
                println!(
                    "Could not stop stack {} ({}): {e:#}",
                    s.name,
                    s.dir.display()
                );
            }
        }
    }
    Ok(if failed == 0 { 0 } else { 1 })
}
