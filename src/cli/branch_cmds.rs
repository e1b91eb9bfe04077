//! branch, snapshot, rollback and migrate: call the engine, print what it did. The texts
//! differ per backend where the backends differ (a neon branch has a timeline and a compute).

use serde_json::json;

use super::confirm;
use super::print::Table;
use super::{BranchCmd, SnapshotCmd};
use crate::backend::{Backend, Branches, Counts};
use crate::branch::lifecycle::{parse_expiry, Lifecycle};
use crate::branch::{Kind, Meta, Name, MAIN};
use crate::engine::branches::{self as engine, Switched};
use crate::engine::database::Access;
use crate::engine::lifecycle;
use crate::stack::state::{BackendKind, StateDir};

fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
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

/// The POLICY column of `branch list` / `snapshot list`: protected, expiry.
fn policy_text(life: &Lifecycle, kind: Kind, name: &str) -> String {
    let p = life.policy(kind, name);
    let mut out = Vec::new();
    if p.protected || (kind == Kind::Branch && name == MAIN) {
        out.push("protected".to_string());
    }
    if let Some(t) = p.expires_at {
        out.push(format!("expires {}", t.format("%Y-%m-%d %H:%M:%S UTC")));
    }
    out.join(", ")
}

fn print_json_metas(metas: &[Meta], life: &Lifecycle) -> anyhow::Result<()> {
    let rows: Vec<serde_json::Value> = metas
        .iter()
        .map(|m| with_policy(serde_json::to_value(m), life, m.kind, &m.name))
        .collect();
    println!("{}", serde_json::to_string_pretty(&rows)?);
    Ok(())
}

/// Branches (postgres: database copies, main first) as a table.
fn branch_table(metas: &[Meta], life: &Lifecycle) -> Table {
    let mut t = Table::new(["NAME", "FROM", "CREATED", "POLICY", "NOTE"]);
    for m in metas {
        let from = if m.parent.is_empty() { "-" } else { &m.parent };
        t.row([
            m.name.clone(),
            from.to_string(),
            time(&m.created_at),
            policy_text(life, Kind::Branch, &m.name),
            m.reason.clone().unwrap_or_default(),
        ]);
    }
    t
}

pub(super) fn print_snapshots(metas: &[Meta], life: &Lifecycle, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json_metas(metas, life);
    }
    let mut t = Table::new(["NAME", "OF", "TAKEN", "AUTOMATIC", "POLICY", "REASON"]);
    for m in metas {
        t.row([
            m.name.clone(),
            m.parent.clone(),
            time(&m.created_at),
            if m.automatic { "yes" } else { "no" }.to_string(),
            policy_text(life, Kind::Snapshot, &m.name),
            m.reason.clone().unwrap_or_default(),
        ]);
    }
    t.print_or(
        "No snapshots yet. `wsctl snapshot create [NAME]` takes one; migrate, rollback and \
         import --cutover take one automatically.",
    );
    Ok(())
}

/// Each branch's connection string, preview API and whether the API serves it, as JSON
/// fields merged into its row.
type AccessOf<'a> = &'a dyn Fn(&str) -> Access;

fn with_access(mut row: serde_json::Value, access: AccessOf, name: &str) -> serde_json::Value {
    if let (Some(obj), Ok(serde_json::Value::Object(a))) =
        (row.as_object_mut(), serde_json::to_value(access(name)))
    {
        obj.extend(a);
    }
    row
}

/// The access table under a listing: how to reach each branch.
fn print_access<'a>(names: impl Iterator<Item = &'a str>, access: AccessOf) {
    let rows: Vec<_> = names.map(|n| (n.to_string(), access(n))).collect();
    print!("{}", super::print::access_table(rows).render());
}

fn print_branches(
    branches: &Branches,
    life: &Lifecycle,
    json: bool,
    access: AccessOf,
) -> anyhow::Result<()> {
    let (main_timeline, port, branches) = match branches {
        Branches::Copies(metas) if json => {
            let rows: Vec<serde_json::Value> = metas
                .iter()
                .map(|m| {
                    let row = with_policy(serde_json::to_value(m), life, m.kind, &m.name);
                    with_access(row, access, &m.name)
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
            return Ok(());
        }
        Branches::Copies(metas) => {
            print!("{}", branch_table(metas, life).render());
            println!();
            print_access(metas.iter().map(|m| m.name.as_str()), access);
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
        let rows: Vec<serde_json::Value> = branches
            .iter()
            .map(|b| {
                let row = with_policy(serde_json::to_value(b), life, Kind::Branch, &b.name);
                with_access(row, access, &b.name)
            })
            .collect();
        let main = json!({"timeline_id": main_timeline, "pg_port": port, "protected": true});
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "main": with_access(main, access, MAIN),
                "branches": rows,
            }))?
        );
        return Ok(());
    }
    let mut t = Table::new([
        "NAME", "FROM", "AT LSN", "TIMELINE", "PORT", "CREATED", "POLICY",
    ]);
    t.row([
        MAIN,
        "-",
        "-",
        main_timeline,
        &port.to_string(),
        "-",
        "protected",
    ]);
    for b in branches {
        t.row([
            b.name.clone(),
            b.parent.clone(),
            b.lsn.clone(),
            b.timeline_id.clone(),
            b.pg_port.to_string(),
            time(&b.created_at),
            policy_text(life, Kind::Branch, &b.name),
        ]);
    }
    print!("{}", t.render());
    println!();
    let names = std::iter::once(MAIN).chain(branches.iter().map(|b| b.name.as_str()));
    print_access(names, access);
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
    let preview = engine::add_preview(dir, b, branch).await?;
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
    (api, life, json): (bool, super::LifeArgs, bool),
) -> anyhow::Result<()> {
    let opts = lifecycle::CreateOptions {
        protect: life.protect,
        expires_at: parse_expiry(
            life.ttl.as_deref(),
            life.expires_at.as_deref(),
            chrono::Utc::now(),
        )?,
        force: life.force,
    };
    let created = lifecycle::create_branch(dir, b, &name, &from, at, opts).await?;
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
    use super::ops_cmds;
    if let BranchCmd::History { name, json } = &cmd {
        return ops_cmds::history(dir, name.as_deref(), *json);
    }
    if let BranchCmd::Promote { name } = &cmd {
        let done = crate::engine::import::promote(dir, name).await?;
        println!(
            "Main now holds import branch {name}. Snapshot {s} holds main as it was — \
             `wsctl rollback --to {s}` undoes it. Health suite: {}.",
            if done.health.passed() {
                "passed"
            } else {
                "FAILED"
            },
            s = done.snapshot
        );
        if !done.health.passed() {
            print!("{}", done.health.to_table());
            return Ok(1);
        }
        return Ok(0);
    }
    // Listing and diffing only read: they must not wait for a writer.
    let mut b = match &cmd {
        BranchCmd::List { .. } | BranchCmd::Diff { .. } => engine::open_for_reading(dir).await?,
        _ => engine::open_for_change(dir).await?,
    };
    match cmd {
        BranchCmd::Create {
            name,
            from,
            at,
            api,
            life,
            json,
        } => create(dir, &mut *b, (name, from, at), (api, life, json)).await?,
        BranchCmd::List { json } => {
            let state = b.state().clone();
            let access = |name: &str| crate::engine::database::access(&state, name);
            print_branches(&b.branches().await?, &state.lifecycle, json, &access)?
        }
        BranchCmd::Delete { name, force, yes } => {
            let what = format!("deletes branch {name}, its data and its preview API");
            if !confirm::irreversible(&what, &format!("Delete branch {name}?"), yes)? {
                return Ok(1);
            }
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
        BranchCmd::History { .. } | BranchCmd::Promote { .. } => {}
    }
    Ok(0)
}

pub async fn snapshot(dir: &StateDir, cmd: SnapshotCmd) -> anyhow::Result<i32> {
    use super::ops_cmds;
    let mut b = match &cmd {
        SnapshotCmd::List { .. } => engine::open_for_reading(dir).await?,
        _ => engine::open_for_change(dir).await?,
    };
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
        SnapshotCmd::List { json } => {
            print_snapshots(&b.snapshots().await?, &b.state().lifecycle, json)?
        }
        SnapshotCmd::Delete { name, force, yes } => {
            let what = format!("deletes snapshot {name}");
            if !confirm::irreversible(&what, &format!("Delete snapshot {name}?"), yes)? {
                return Ok(1);
            }
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

pub async fn rollback(dir: &StateDir, to: Option<String>, json: bool) -> anyhow::Result<i32> {
    let mut b = engine::open_for_change(dir).await?;
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
                "undo": format!("wsctl rollback --to {}", r.rollback.before.name),
            }))?
        );
    } else {
        print_rollback(&r.rollback, &r.before, &r.after);
        print!("{}", report.to_table());
        println!("undo: wsctl rollback --to {}", r.rollback.before.name);
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
