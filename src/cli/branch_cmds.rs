//! branch, snapshot, rollback and migrate: call the engine, print what it did. The texts
//! differ per backend where the backends differ (a neon branch has a timeline and a compute).

use serde_json::json;

use super::print::Table;
use super::{BranchCmd, SnapshotCmd};
use crate::backend::{Backend, Branches, Counts};
use crate::branch::{Meta, Name, MAIN};
use crate::engine::branches::{self as engine, Switched};
use crate::stack::state::{BackendKind, StateDir};

fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Branches (postgres: database copies, main first) as a table.
fn branch_table(metas: &[Meta]) -> Table {
    let mut t = Table::new(["NAME", "FROM", "CREATED", "NOTE"]);
    for m in metas {
        let from = if m.parent.is_empty() { "-" } else { &m.parent };
        t.row([
            m.name.clone(),
            from.to_string(),
            time(&m.created_at),
            m.reason.clone().unwrap_or_default(),
        ]);
    }
    t
}

pub(super) fn print_snapshots(metas: &[Meta], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(metas)?);
        return Ok(());
    }
    let mut t = Table::new(["NAME", "OF", "TAKEN", "AUTOMATIC", "REASON"]);
    for m in metas {
        t.row([
            m.name.clone(),
            m.parent.clone(),
            time(&m.created_at),
            if m.automatic { "yes" } else { "no" }.to_string(),
            m.reason.clone().unwrap_or_default(),
        ]);
    }
    t.print_or(
        "No snapshots yet. `wsctl snapshot create [NAME]` takes one; migrate, rollback and \
         import --cutover take one automatically.",
    );
    Ok(())
}

fn print_branches(branches: &Branches, json: bool) -> anyhow::Result<()> {
    let (main_timeline, port, branches) = match branches {
        Branches::Copies(metas) if json => {
            println!("{}", serde_json::to_string_pretty(metas)?);
            return Ok(());
        }
        Branches::Copies(metas) => {
            print!("{}", branch_table(metas).render());
            if metas.len() == 1 {
                println!("No branches besides main yet: `wsctl branch create NAME` makes one.");
            }
            return Ok(());
        }
        Branches::Timelines {
            main_timeline,
            main_port,
            branches,
        } => (main_timeline, *main_port, branches),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "main": {"timeline_id": main_timeline, "pg_port": port},
                "branches": branches,
            }))?
        );
        return Ok(());
    }
    let mut t = Table::new(["NAME", "FROM", "AT LSN", "TIMELINE", "PORT", "CREATED"]);
    t.row([MAIN, "-", "-", main_timeline, &port.to_string(), "-"]);
    for b in branches {
        t.row([
            b.name.clone(),
            b.parent.clone(),
            b.lsn.clone(),
            b.timeline_id.clone(),
            b.pg_port.to_string(),
            time(&b.created_at),
        ]);
    }
    print!("{}", t.render());
    if branches.is_empty() {
        println!("No branches besides main yet: `wsctl branch create NAME` makes one.");
    }
    Ok(())
}

async fn add_preview(
    dir: &StateDir,
    b: &mut dyn Backend,
    branch: &str,
    json: bool,
) -> anyhow::Result<Option<String>> {
    let preview = engine::add_preview(dir, b.state_mut(), branch).await?;
    let url = format!("http://127.0.0.1:{}", preview.port);
    if !json {
        println!("Preview API for {branch}: {url}");
    }
    Ok(Some(url))
}

async fn create(
    dir: &StateDir,
    b: &mut dyn Backend,
    (name, from, at): (String, String, Option<String>),
    api: bool,
    json: bool,
) -> anyhow::Result<()> {
    let created = b.create_branch(&name, &from, at).await?;
    let took = created.took.as_secs_f64();
    match &created.timeline {
        _ if json => {}
        None => println!("Created branch {} from {from} in {took:.2} s.", created.name),
        Some(t) => println!(
            "Created branch {} from {from} at {} (timeline {}) in {took:.2} s; its compute listens on 127.0.0.1:{}.",
            t.name, t.lsn, t.timeline_id, t.pg_port
        ),
    }
    let preview = match api {
        true => add_preview(dir, b, &created.name, json).await?,
        false => None,
    };
    if json {
        let mut out = json!({
            "name": created.name,
            "from": from,
            "took_ms": created.took.as_secs_f64() * 1000.0,
            "preview_url": preview,
        });
        if let Some(t) = &created.timeline {
            out["timeline_id"] = json!(t.timeline_id);
            out["lsn"] = json!(t.lsn);
            out["pg_port"] = json!(t.pg_port);
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}

pub async fn branch(dir: &StateDir, cmd: BranchCmd) -> anyhow::Result<i32> {
    let mut b = engine::open_running(dir).await?;
    match cmd {
        BranchCmd::Create {
            name,
            from,
            at,
            api,
            json,
        } => create(dir, &mut *b, (name, from, at), api, json).await?,
        BranchCmd::List { json } => print_branches(&b.branches().await?, json)?,
        BranchCmd::Delete { name } => match b.delete_branch(&name).await? {
            None => println!("Deleted branch {name}."),
            Some(timeline) => println!("Deleted branch {name} (timeline {timeline})."),
        },
        BranchCmd::Switch { name } => match engine::switch(dir, &mut *b, &name).await? {
            Switched::Already => println!("The API already serves branch {name}."),
            Switched::Now => println!("The API now serves branch {name}."),
        },
    }
    Ok(0)
}

pub async fn snapshot(dir: &StateDir, cmd: SnapshotCmd) -> anyhow::Result<i32> {
    let mut b = engine::open_running(dir).await?;
    match cmd {
        SnapshotCmd::Create { name, json } => {
            let name = name.as_deref().map(Name::parse).transpose()?;
            let snap = b.snapshot(name).await?;
            match b.kind() {
                _ if json => println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "snapshot": snap.meta,
                        "took_ms": snap.took.as_secs_f64() * 1000.0,
                        "timeline_id": snap.timeline,
                    }))?
                ),
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
        SnapshotCmd::List { json } => print_snapshots(&b.snapshots().await?, json)?,
        SnapshotCmd::Delete { name } => {
            b.delete_snapshot(&name).await?;
            println!("Deleted snapshot {name}.");
        }
    }
    Ok(0)
}

pub async fn rollback(dir: &StateDir, to: Option<String>, json: bool) -> anyhow::Result<i32> {
    let mut b = engine::open_running(dir).await?;
    let r = engine::rollback(&mut *b, to).await?;
    let report = crate::health::run(dir, b.state()).await;
    if json {
        let tables: Vec<_> = r
            .before
            .iter()
            .zip(r.after.iter())
            .map(|((table, n_before, h_before), (_, n_after, h_after))| {
                json!({"table": table, "rows_before": n_before, "rows_after": n_after, "changed": h_before != h_after})
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "restored": r.rollback.restored,
                "before": r.rollback.before,
                "took_ms": r.rollback.took.as_secs_f64() * 1000.0,
                "tables": tables,
                "health": report.to_json(),
            }))?
        );
    } else {
        print_rollback(&r.rollback, &r.before, &r.after);
        print!("{}", report.to_table());
    }
    Ok(if report.passed() { 0 } else { 1 })
}

/// What a rollback restored and, per table, what changed.
pub(super) fn print_rollback(r: &crate::branch::Rollback, before: &Counts, after: &Counts) {
    println!(
        "Restored main to snapshot {} (taken {}) in {:.2} s; the state before is snapshot {}.",
        r.restored.name,
        time(&r.restored.created_at),
        r.took.as_secs_f64(),
        r.before.name
    );
    let mut t = Table::new(["TABLE", "ROWS BEFORE", "ROWS AFTER", "CONTENT"]);
    for ((table, n_before, h_before), (_, n_after, h_after)) in before.iter().zip(after.iter()) {
        let changed = if h_before == h_after {
            "unchanged"
        } else {
            "changed"
        };
        t.row([
            table.clone(),
            n_before.to_string(),
            n_after.to_string(),
            changed.into(),
        ]);
    }
    print!("{}", t.render());
}
