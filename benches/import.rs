//! `wsctl import` of a large old workspace (1,000,000 items by default) against
//! `pg_dump | pg_restore` of the same database on the same machine and cluster.
//!
//! `cargo bench --bench import` (BENCH_ITEMS, BENCH_RUNS). Reported per run: wall time, rows
//! per second, and peak resident memory of the client side (wsctl; pg_dump + pg_restore) — the
//! server's memory is the same PostgreSQL for both. wsctl is measured without and with its
//! backup (which runs pg_dump alongside the copy); both verify every row by checksum.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Instant;

use common::{report, summary, wsctl};
use serde_json::json;

/// Runs a command to completion; returns (seconds, peak RSS in KiB of it and its children).
// The child is reaped by wait4, which std's Child cannot do while also reporting rusage.
#[allow(clippy::zombie_processes)]
fn measure(cmd: &mut Command) -> (f64, u64) {
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: wait4 on our own child fills status and usage.
    let r = unsafe { libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()) };
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(r, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed"
    );
    // SAFETY: initialised by the successful wait4.
    (secs, unsafe { usage.assume_init() }.ru_maxrss as u64)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let items: u64 = common::env_or("BENCH_ITEMS", 1_000_000);
    let runs: u64 = common::env_or("BENCH_RUNS", 3);
    let tmp = tempfile::Builder::new()
        .prefix("ws-bench-import-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("state");
    let port = || {
        workspace_stack::stack::ports::free_port()
            .unwrap()
            .to_string()
    };
    let (pg, api) = (port(), port());
    wsctl(&dir, &["up", "--pg-port", &pg, "--api-port", &api]);
    psql_in(&dir, &seed_sql(items));

    let (base, source) = source_url(&dir);
    let bins = workspace_stack::stack::postgres::PgBinaries::discover(None).unwrap();
    let (dump, restore) = (bins.tool("pg_dump"), bins.tool("pg_restore"));
    let pipeline = format!(
        "set -e; '{}' -Fc -d '{source}' | '{}' --no-owner -d '{base}/restored'",
        dump.display(),
        restore.display(),
    );
    // The same pipeline into this stack's schema (data only, by column name): the result
    // wsctl produces, without the verification.
    let into_ours = format!(
        "set -e; '{}' -Fc --data-only --schema=workspace -d '{source}' | '{}' --data-only -d '{base}/ws_branch_restored_ours'",
        dump.display(),
        restore.display(),
    );

    wsctl(&dir, &["branch", "create", "restored-ours"]);
    let mut m = Measured::default();
    for _ in 0..runs {
        m.ours.record(measure(
            Command::new(env!("CARGO_BIN_EXE_wsctl"))
                .arg("--state-dir")
                .arg(&dir)
                .args(["import", "--from", &source, "--dry-run", "--no-backup"])
                .stdout(std::process::Stdio::null()),
        ));
        m.ours_backup.record(measure(
            Command::new(env!("CARGO_BIN_EXE_wsctl"))
                .arg("--state-dir")
                .arg(&dir)
                .args(["import", "--from", &source, "--dry-run"])
                .stdout(std::process::Stdio::null()),
        ));
        psql_in(
            &dir,
            "DROP DATABASE IF EXISTS restored; CREATE DATABASE restored;",
        );
        m.theirs
            .record(measure(Command::new("sh").args(["-c", &pipeline])));
        psql_in(
            &dir,
            "\\c ws_branch_restored_ours
             TRUNCATE workspace.workspace_items, workspace.workspace_categories;",
        );
        m.same_schema
            .record(measure(Command::new("sh").args(["-c", &into_ours])));
    }
    wsctl(&dir, &["down", "--purge", "--yes"]);
    report_results(items, &m);
}

/// The old serial layout, filled like a real board: varied text, tags and metadata.
fn seed_sql(items: u64) -> String {
    format!(
        "CREATE DATABASE legacy;
         \\c legacy
         CREATE SCHEMA workspace;
         CREATE TABLE workspace.workspace_categories (name VARCHAR(100) PRIMARY KEY,
           display_name VARCHAR(200) NOT NULL, description TEXT, is_active BOOLEAN DEFAULT true,
           sort_order INTEGER DEFAULT 0, created_at TIMESTAMPTZ DEFAULT NOW(), updated_at TIMESTAMPTZ DEFAULT NOW());
         INSERT INTO workspace.workspace_categories (name, display_name, sort_order)
           SELECT 'cat-' || g, 'Category ' || g, g FROM generate_series(1, 6) g;
         CREATE TABLE workspace.workspace_items (id SERIAL PRIMARY KEY, title TEXT NOT NULL,
           description TEXT, category TEXT NOT NULL REFERENCES workspace.workspace_categories (name),
           priority TEXT NOT NULL, status TEXT NOT NULL, tags TEXT[] DEFAULT '{{}}',
           metadata JSONB DEFAULT '{{}}', created_at TIMESTAMPTZ DEFAULT NOW(),
           updated_at TIMESTAMPTZ DEFAULT NOW(), created_by TEXT, updated_by TEXT);
         INSERT INTO workspace.workspace_items (title, description, category, priority, status, tags, metadata, created_by)
           SELECT 'Item ' || g || ' análise', repeat(md5(g::text), 1 + g % 4), 'cat-' || (1 + g % 6),
                  (ARRAY['low','medium','high','critical'])[1 + g % 4], 'new',
                  ARRAY['t' || (g % 50), 'u' || (g % 7)], jsonb_build_object('seq', g, 'src', 'bench'), 'bench'
             FROM generate_series(1, {items}) g;
         CREATE INDEX ON workspace.workspace_items (category);
         CREATE INDEX ON workspace.workspace_items (created_at DESC);
         CREATE INDEX ON workspace.workspace_items USING GIN (tags);
         VACUUM ANALYZE;"
    )
}

/// Runs SQL through `wsctl psql` on the stack in `dir`, stopping at the first error.
fn psql_in(dir: &std::path::Path, sql: &str) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wsctl"));
    c.arg("--state-dir")
        .arg(dir)
        .args(["psql", "-q", "-v", "ON_ERROR_STOP=1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), sql.as_bytes()).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success(), "psql failed");
}

/// The stack's server URL without a database, and the URL of the `legacy` source on it.
fn source_url(dir: &std::path::Path) -> (String, String) {
    let url = String::from_utf8(
        Command::new(env!("CARGO_BIN_EXE_wsctl"))
            .arg("--state-dir")
            .arg(dir)
            .arg("url")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let (base, _) = url.trim().rsplit_once('/').unwrap();
    let source = format!("{base}/legacy");
    (base.to_string(), source)
}

/// Wall times of one contender's runs and the highest peak RSS (KiB) among them.
#[derive(Default)]
struct Runs {
    times: Vec<f64>,
    peak_rss: u64,
}

impl Runs {
    fn record(&mut self, (secs, rss): (f64, u64)) {
        self.times.push(secs);
        self.peak_rss = self.peak_rss.max(rss);
    }
}

/// wsctl without and with its backup, and pg_dump | pg_restore into a fresh database and
/// into this stack's schema.
#[derive(Default)]
struct Measured {
    ours: Runs,
    ours_backup: Runs,
    theirs: Runs,
    same_schema: Runs,
}

fn report_results(items: u64, m: &Measured) {
    let (ours, ours_rss) = (&m.ours.times, m.ours.peak_rss);
    let (ours_backup, ours_backup_rss) = (&m.ours_backup.times, m.ours_backup.peak_rss);
    let (theirs, theirs_rss) = (&m.theirs.times, m.theirs.peak_rss);
    let (same_schema, same_schema_rss) = (&m.same_schema.times, m.same_schema.peak_rss);
    let rate = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        (items as f64 / v[v.len() / 2]).round()
    };
    let ratio = |a: &[f64], b: &[f64]| {
        let med = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        (med(b) / med(a) * 100.0).round() / 100.0
    };
    report(
        "import",
        &json!({
            "items": items,
            "wsctl_import_verified": {"time": summary(ours.clone()), "rows_per_s": rate(ours), "peak_rss_kib": ours_rss},
            "wsctl_import_verified_with_backup": {"time": summary(ours_backup.clone()), "rows_per_s": rate(ours_backup), "peak_rss_kib": ours_backup_rss},
            "pg_dump_pipe_pg_restore": {"time": summary(theirs.clone()), "rows_per_s": rate(theirs), "peak_rss_kib": theirs_rss},
            "pg_dump_pipe_pg_restore_into_our_schema": {"time": summary(same_schema.clone()), "rows_per_s": rate(same_schema), "peak_rss_kib": same_schema_rss},
            "speedup_vs_pipeline": ratio(ours, theirs),
            "speedup_vs_pipeline_into_our_schema": ratio(ours, same_schema),
            "speedup_with_backup_vs_pipeline": ratio(ours_backup, theirs),
        }),
    );
}
