//! branch, snapshot, rollback and migrate: call the engine, print what it did. The texts
//! differ per backend where the backends differ (a neon branch has a timeline and a compute).

use super::{BranchCmd, SnapshotCmd};
use crate::backend::{Backend, Branches, Counts};
use crate::branch::lifecycle::{parse_expiry, Lifecycle};
use crate::branch::{Kind, Meta, Name, MAIN};
use crate::db::migrations;
use crate::engine::branches::{self as engine, Switched};
use crate::engine::lifecycle;
use crate::engine::require_state;
use crate::stack::state::{BackendKind, StateDir};
use crate::stack::supervisor::pg_config;

pub(super) fn print_metas(metas: &[Meta], life: &Lifecycle, json: bool) -> anyhow::Result<()> {
    if json {
        let rows: Vec<serde_json::Value> = metas
            .iter()
            .map(|m| with_policy(serde_json::to_value(m), life, m.kind, &m.name))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for m in metas {
        println!(
            "{:30} {:8} from {:20} {}{}{}",
            m.name,
            format!("{:?}", m.kind).to_lowercase(),
            m.parent,
            m.created_at.format("%Y-%m-%d %H:%M:%S"),
            policy_text(life, m.kind, &m.name),
            m.reason
                .as_ref()
                .map_or(String::new(), |r| format!("  ({r})"))
        );
    }
    Ok(())
}

/// A list entry's JSON with `protected` and `expires_at` added.
fn with_policy(
    v: Result<serde_json::Value, serde_json::Error>,
    life: &Lifecycle,
    kind: Kind,
    name: &str,
) -> serde_json::Value {
    let mut v = v.unwrap_or_default();
    let p = life.policy(kind, name);
    v["protected"] = p.protected.into();
    v["expires_at"] = p
        .expires_at
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .into();
    v
}

/// The protected and expiry columns of `branch list` / `snapshot list`.
fn policy_text(life: &Lifecycle, kind: Kind, name: &str) -> String {
    let p = life.policy(kind, name);
    let mut out = String::new();
    if p.protected {
        out.push_str("  protected");
    }
    if let Some(t) = p.expires_at {
        out.push_str(&format!("  expires {}", t.format("%Y-%m-%d %H:%M:%S UTC")));
    }
    out
}

fn print_branches(branches: &Branches, life: &Lifecycle, json: bool) -> anyhow::Result<()> {
    let (main_timeline, port, branches) = match branches {
        Branches::Copies(metas) => return print_metas(metas, life, json),
        Branches::Timelines {
            main_timeline,
            main_port,
            branches,
        } => (main_timeline, *main_port, branches),
    };
    if json {
        let rows: Vec<serde_json::Value> = branches
            .iter()
            .map(|b| with_policy(serde_json::to_value(b), life, Kind::Branch, &b.name))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "main": {"timeline_id": main_timeline, "pg_port": port, "protected": true},
                "branches": rows,
            }))?
        );
    } else {
        println!("{MAIN:24} timeline {main_timeline}  port {port}  protected");
        for b in branches {
            println!(
                "{:24} timeline {}  port {}  from {} at {}{}",
                b.name,
                b.timeline_id,
                b.pg_port,
                b.parent,
                b.lsn,
                policy_text(life, Kind::Branch, &b.name)
            );
        }
    }
    Ok(())
}

async fn add_preview(dir: &StateDir, b: &mut dyn Backend, branch: &str) -> anyhow::Result<()> {
    let preview = engine::add_preview(dir, b.state_mut(), branch).await?;
    println!(
        "Preview API for {branch}: http://127.0.0.1:{}",
        preview.port
    );
    Ok(())
}

pub async fn branch(dir: &StateDir, cmd: BranchCmd) -> anyhow::Result<i32> {
    use super::ops_cmds;
    if let BranchCmd::History { name, json } = &cmd {
        return ops_cmds::history(dir, name.as_deref(), *json);
    }
    let mut b = engine::open_running(dir).await?;
    match cmd {
        BranchCmd::Create {
            name,
            from,
            at,
            api,
            life,
        } => {
            let opts = lifecycle::CreateOptions {
                protect: life.protect,
                expires_at: parse_expiry(
                    life.ttl.as_deref(),
                    life.expires_at.as_deref(),
                    chrono::Utc::now(),
                )?,
                force: life.force,
            };
            let created = lifecycle::create_branch(dir, &mut *b, &name, &from, at, opts).await?;
            match &created.timeline {
                None => println!(
                    "Created branch {} from {from} in {:.2} s.",
                    created.name,
                    created.took.as_secs_f64()
                ),
                Some(t) => println!(
                    "Created branch {} from {from} at {} (timeline {}) in {:.2} s; its compute listens on 127.0.0.1:{}.",
                    t.name,
                    t.lsn,
                    t.timeline_id,
                    created.took.as_secs_f64(),
                    t.pg_port
                ),
            }
            if api {
                add_preview(dir, &mut *b, &created.name).await?;
            }
        }
        BranchCmd::List { json } => {
            print_branches(&b.branches().await?, &b.state().lifecycle, json)?
        }
        BranchCmd::Delete { name, force } => {
            match lifecycle::delete_branch(dir, &mut *b, &name, force).await? {
                None => println!("Deleted branch {name}."),
                Some(timeline) => println!("Deleted branch {name} (timeline {timeline})."),
            }
        }
        BranchCmd::Switch { name } => match engine::switch(dir, &mut *b, &name).await? {
            Switched::Already => println!("The API already serves branch {name}."),
            Switched::Now => println!("The API now serves branch {name}."),
        },
        BranchCmd::Diff {
            a,
            b: other,
            json,
            sql,
        } => return ops_cmds::branch_diff(dir, &mut *b, &a, other.as_deref(), json, sql).await,
        BranchCmd::Protect { name, force } => {
            return ops_cmds::protect(dir, &mut *b, Kind::Branch, &name, true, force).await
        }
        BranchCmd::Unprotect { name } => {
            return ops_cmds::protect(dir, &mut *b, Kind::Branch, &name, false, false).await
        }
        BranchCmd::History { .. } => {}
    }
    Ok(0)
}

pub async fn snapshot(dir: &StateDir, cmd: SnapshotCmd) -> anyhow::Result<i32> {
    use super::ops_cmds;
    let mut b = engine::open_running(dir).await?;
    match cmd {
        SnapshotCmd::Create { name } => {
            let name = name.as_deref().map(Name::parse).transpose()?;
            let snap = b.snapshot(name).await?;
            match b.kind() {
                BackendKind::Postgres => println!(
                    "Snapshot {} of main taken in {:.2} s.",
                    snap.meta.name,
                    snap.took.as_secs_f64()
                ),
                BackendKind::Neon => println!(
                    "Snapshot {} of main taken in {:.2} s (timeline {}).",
                    snap.meta.name,
                    snap.took.as_secs_f64(),
                    snap.timeline.as_deref().unwrap_or("")
                ),
            }
        }
        SnapshotCmd::List { json } => {
            print_metas(&b.snapshots().await?, &b.state().lifecycle, json)?
        }
        SnapshotCmd::Delete { name, force } => {
            lifecycle::delete_snapshot(dir, &mut *b, &name, force).await?;
            println!("Deleted snapshot {name}.");
        }
        SnapshotCmd::Protect { name } => {
            return ops_cmds::protect(dir, &mut *b, Kind::Snapshot, &name, true, false).await
        }
        SnapshotCmd::Unprotect { name } => {
            return ops_cmds::protect(dir, &mut *b, Kind::Snapshot, &name, false, false).await
        }
        SnapshotCmd::Prune { keep } => return ops_cmds::prune(dir, &mut *b, keep).await,
    }
    Ok(0)
}

pub async fn rollback(dir: &StateDir, to: Option<String>) -> anyhow::Result<i32> {
    let mut b = engine::open_running(dir).await?;
    let r = engine::rollback(&mut *b, to).await?;
    print_rollback(&r.rollback, &r.before, &r.after);
    let report = crate::health::run(dir, b.state()).await;
    print!("{}", report.to_table());
    Ok(if report.passed() { 0 } else { 1 })
}

/// What a rollback restored and, per table, what changed.
pub(super) fn print_rollback(r: &crate::branch::Rollback, before: &Counts, after: &Counts) {
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
    if status_only {
        let state = require_state(dir)?;
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
    let mut b = engine::open_running(dir).await?;
    let neon = b.kind() == BackendKind::Neon;
    if check {
        let c = b.migrate_check().await?;
        let copy = if neon { "branch" } else { "copy" };
        println!(
            "On a throwaway {copy} of main: applied {:?}; schema current: {}; main untouched.",
            c.applied, c.current
        );
        for (t, n, _) in c.counts {
            println!("  {t:24} {n:>9} rows");
        }
        return Ok(if c.current { 0 } else { 1 });
    }
    let outcome = b.migrate().await?;
    let snap = &outcome.snapshot.name;
    if let Some(error) = &outcome.rolled_back_after {
        println!(
            "Migration failed: {error}\nMain was restored from snapshot {snap}; nothing changed."
        );
        return Ok(1);
    }
    if !neon {
        println!(
            "Applied {:?} (snapshot {snap} taken first).",
            outcome.applied
        );
    }
    let report = crate::health::run(dir, b.state()).await;
    if !report.passed() {
        print!("{}", report.to_table());
        b.undo_migrate(&outcome.snapshot).await?;
        if neon {
            println!("The health suite failed after migrating.\nMain was restored from snapshot {snap}; nothing changed.");
        } else {
            println!(
                "The health suite failed after migrating; main was restored from snapshot {snap}."
            );
        }
        return Ok(1);
    }
    if neon {
        println!(
            "Applied {:?} (snapshot {snap} taken first). Health suite passed ({} checks).",
            outcome.applied,
            report.checks.len()
        );
    } else {
        println!("Health suite passed ({} checks).", report.checks.len());
    }
    Ok(0)
}
