//! `wsctl migrate`, `migrate --check`, `migrate status` and `migrate new`.

use std::path::Path;

use super::print::Table;
use super::MigrateCmd;
use crate::backend::Backend;
use crate::db::migrations::{self, Migration};
use crate::engine::branches as engine;
use crate::engine::migrate::{self as plan, ApiAfterMigrate};
use crate::stack::state::{BackendKind, StateDir};

pub async fn migrate(dir: &StateDir, check: bool, cmd: Option<MigrateCmd>) -> anyhow::Result<i32> {
    match cmd {
        Some(MigrateCmd::Status { json }) => status(dir, json).await,
        Some(MigrateCmd::New { name, dir: files }) => new(&files, &name),
        None if check => check_on_copy(dir).await,
        None => apply(dir).await,
    }
}

/// "3 gin_without_pending_list, 4 add_due_dates"
fn list(pending: &[Migration]) -> String {
    pending
        .iter()
        .map(|m| format!("{} {}", m.version, m.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn count(n: usize) -> String {
    format!("{n} migration{}", if n == 1 { "" } else { "s" })
}

/// Exit 0 when the schema is current, 1 when migrations are pending (CI can gate on it).
async fn status(dir: &StateDir, json: bool) -> anyhow::Result<i32> {
    let r = plan::status(dir).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        let mut t = Table::new(["VERSION", "NAME", "CHECKSUM", "APPLIED"]);
        for m in &r.migrations {
            t.row([
                m.version.to_string(),
                m.name.clone(),
                m.checksum[..16].to_string(),
                m.applied_at.map_or("pending".into(), |t| {
                    t.format("%Y-%m-%d %H:%M:%S").to_string()
                }),
            ]);
        }
        print!("{}", t.render());
        match r.schema {
            "current" => println!(
                "All {} applied: the schema is current.",
                count(r.migrations.len())
            ),
            "behind" => println!(
                "{} pending — `wsctl migrate` applies {}.",
                count(r.pending.len()),
                if r.pending.len() == 1 { "it" } else { "them" }
            ),
            _ => println!(
                "The database is at migration {}, newer than this wsctl knows ({}): it was \
                 migrated by a newer build — upgrade wsctl.",
                r.applied_version, r.latest_version
            ),
        }
    }
    Ok(if r.schema == "current" { 0 } else { 1 })
}

fn new(files: &Path, name: &str) -> anyhow::Result<i32> {
    let path = migrations::create_file(files, name)?;
    println!(
        "Created {}. Write the SQL there; the next `cargo build` embeds it, `wsctl migrate \
         --check` tries it on a throwaway copy of main and `wsctl migrate` applies it.",
        path.display()
    );
    Ok(0)
}

async fn check_on_copy(dir: &StateDir) -> anyhow::Result<i32> {
    let mut b = engine::open_for_change(dir).await?;
    let pending = plan::pending(dir, &*b).await?;
    if pending.is_empty() {
        println!(
            "Nothing to check: the schema is at migration {}, the latest.",
            migrations::latest_version()
        );
        return Ok(0);
    }
    let copy = match b.kind() {
        BackendKind::Neon => "branch",
        BackendKind::Postgres => "copy",
    };
    let c = b.migrate_check().await?;
    let state = if c.current {
        "the schema is current"
    } else {
        "the schema is still not current"
    };
    println!(
        "On a throwaway {copy} of main, {} ({}) applied cleanly and {state}; main was not touched.",
        count(c.applied.len()),
        list(&pending)
    );
    let mut t = Table::new(["TABLE", "ROWS AFTER"]);
    for (table, n, _) in c.counts {
        t.row([table, n.to_string()]);
    }
    print!("{}", t.render());
    Ok(if c.current { 0 } else { 1 })
}

async fn apply(dir: &StateDir) -> anyhow::Result<i32> {
    let mut b = engine::open_for_change(dir).await?;
    let pending = plan::pending(dir, &*b).await?;
    if pending.is_empty() {
        // No snapshot: there is nothing to undo.
        println!(
            "Nothing to migrate: the schema is at migration {}, the latest.",
            migrations::latest_version()
        );
        return Ok(0);
    }
    let outcome = b.migrate().await?;
    let snap = &outcome.snapshot.name;
    if let Some(error) = &outcome.rolled_back_after {
        println!(
            "Migration failed: {error}\nMain was restored from snapshot {snap}; nothing changed."
        );
        return Ok(1);
    }
    println!(
        "Applied {} ({}); snapshot {snap} was taken first.",
        count(outcome.applied.len()),
        list(&pending)
    );
    let api = plan::refresh_api(dir, b.state()).await;
    if let Ok(ApiAfterMigrate::Restarted) = api {
        println!(
            "Restarted the Workspace API: it ran an older build that did not know the new schema."
        );
    }
    let report = crate::health::run(dir, b.state()).await;
    if api.is_err() || !report.passed() {
        print!("{}", report.to_table());
        if let Err(e) = &api {
            println!("{e:#}");
        }
        undo(&mut *b, &outcome.snapshot).await?;
        println!("The health suite failed after migrating; main was restored from snapshot {snap}, so nothing changed.");
        return Ok(1);
    }
    println!("Health suite passed ({} checks).", report.checks.len());
    println!("undo: wsctl rollback --to {snap}");
    Ok(0)
}

async fn undo(b: &mut dyn Backend, snapshot: &crate::branch::Meta) -> anyhow::Result<()> {
    b.undo_migrate(snapshot).await
}
