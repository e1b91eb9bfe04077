//! Importing an older Workspace database: back it up, copy it into a fresh database, verify
//! every table by count and checksum. Which database that is (a branch on either backend) and
//! what happens after (cutover, dry run) is the caller's business (`wsctl import`).
//!
//! The source is only ever read, inside one REPEATABLE READ READ ONLY transaction whose
//! snapshot `pg_dump` shares, so backup and copy see the same data. The target's load runs in
//! one transaction: interrupted, it leaves nothing half-written behind.

pub mod backup;
pub mod copy;
pub mod passfile;
pub mod source;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;
use tokio_postgres::Client;

pub use copy::{Reject, TableReport};
pub use source::{Layout, Variant};

/// Priorities and statuses the target's CHECK constraints accept.
const PRIORITIES: [&str; 4] = ["low", "medium", "high", "critical"];
const STATUSES: [&str; 5] = ["new", "review", "in-progress", "completed", "rejected"];

/// `host:port/db` of a connection, with no user or password, for messages and reports.
pub fn describe(config: &tokio_postgres::Config) -> String {
    crate::db::describe(config)
}

/// Everything a run did, written as JSON whatever the outcome.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub source: String,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    pub seconds: f64,
    pub dry_run: bool,
    pub layout: Option<Layout>,
    pub backup: Option<backup::Backup>,
    pub branch: Option<String>,
    pub tables: Vec<TableReport>,
    /// Rows that did not arrive, each with its reason.
    pub rejected: Vec<Reject>,
    /// `source id,new id` per item, when ids changed (UUID sources).
    pub id_map: Option<PathBuf>,
    pub verified: bool,
    /// The snapshot taken before main changed, when it did.
    pub cutover_snapshot: Option<String>,
    pub outcome: String,
    pub peak_rss_kib: u64,
    /// Seconds per phase, in order.
    pub phases: Vec<(String, f64)>,
}

impl Report {
    /// Records that the phase since the last mark took until now.
    pub fn mark(&mut self, phase: &str, since: &mut Instant) {
        self.phases
            .push((phase.to_string(), since.elapsed().as_secs_f64()));
        *since = Instant::now();
    }
}

pub struct Load<'a> {
    pub layout: &'a Layout,
    /// The fresh database to fill.
    pub target: &'a tokio_postgres::Config,
    pub batch_rows: usize,
    pub progress: &'a indicatif::ProgressBar,
    pub id_map: Option<PathBuf>,
}

/// Opens the source's snapshot: a read-only REPEATABLE READ transaction in UTC (so both sides
/// print timestamps alike). Returns the exported snapshot's name for `pg_dump --snapshot`.
pub async fn begin_source(source: &Client) -> anyhow::Result<String> {
    source
        .batch_execute(
            "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET statement_timeout = 0;
             BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        )
        .await?;
    Ok(source
        .query_one("SELECT pg_export_snapshot()", &[])
        .await?
        .get(0))
}

/// Row counts of the source's two tables, for the progress bar.
pub async fn source_rows(source: &Client, layout: &Layout) -> anyhow::Result<u64> {
    let mut n = 0;
    for t in [&layout.categories.source_table, &layout.items.source_table] {
        let c: i64 = source
            .query_one(&format!("SELECT count(*) FROM {t}"), &[])
            .await?
            .get(0);
        n += c as u64;
    }
    Ok(n)
}

impl Load<'_> {
    /// Replaces the target's workspace data with the source's, verifies it, and commits.
    pub async fn run(self, source: &Client, report: &mut Report) -> anyhow::Result<()> {
        let mut t = Instant::now();
        let target = &crate::db::connect(self.target).await?;
        target
            .batch_execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO'")
            .await?;
        // On any error the caller drops the connection, which rolls the load back.
        target.batch_execute("BEGIN").await?;
        let tx = target;
        let indexes = empty_target(tx).await?;
        report.mark("truncate and drop indexes", &mut t);
        let layout = self.layout;
        let check_category = category_check(layout);
        let mut rejects = Vec::new();
        let cat_report = copy::Copy {
            map: &layout.categories,
            check: &check_category,
            batch_rows: self.batch_rows,
            progress: self.progress,
            id_map: None,
        }
        .run(source, tx, &mut rejects)
        .await?;

        report.mark("copy categories", &mut t);
        let known: HashSet<String> = tx
            .query("SELECT name FROM workspace.workspace_categories", &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let check_item = item_check(layout, known);
        let mut id_map = match &self.id_map {
            Some(p) => Some(std::io::BufWriter::new(
                crate::stack::state::create_private(p)?,
            )),
            None => None,
        };
        let item_report = copy::Copy {
            map: &layout.items,
            check: &check_item,
            batch_rows: self.batch_rows,
            progress: self.progress,
            id_map: id_map.as_mut(),
        }
        .run(source, tx, &mut rejects)
        .await?;
        if let Some(mut w) = id_map {
            use std::io::Write;
            w.flush()?;
        }

        report.mark("copy and verify items", &mut t);
        check_and_commit(tx).await?;
        report.mark("check and commit", &mut t);

        // Indexes are built after the commit, several at once: the branch is not in use and
        // stays marked as an unfinished import until the caller has seen this return.
        self.progress.set_message("building indexes");
        self.build_indexes(indexes).await?;
        report.mark("build indexes", &mut t);
        report.verified = cat_report.verified && item_report.verified;
        report.tables = vec![cat_report, item_report];
        report.rejected = rejects;
        report.id_map = self.id_map;
        Ok(())
    }

    /// Builds the dropped indexes again, a few connections at a time.
    async fn build_indexes(&self, indexes: Vec<(String, String)>) -> anyhow::Result<()> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        let queue = std::sync::Mutex::new(indexes.into_iter().map(|(_, d)| d));
        let build = || async {
            let c = crate::db::connect(self.target).await?;
            c.batch_execute(
                "SET maintenance_work_mem = '256MB'; SET max_parallel_maintenance_workers = 0",
            )
            .await?;
            loop {
                let Some(def) = queue.lock().expect("not poisoned").next() else {
                    return anyhow::Ok(());
                };
                c.batch_execute(&def).await?;
            }
        };
        futures_util::future::try_join_all((0..workers).map(|_| build())).await?;
        Ok(())
    }
}

/// Empties the target inside the load's transaction and drops the items' indexes (not the
/// constraints'); returns them, as name and definition, to be built again at the end.
async fn empty_target(tx: &Client) -> anyhow::Result<Vec<(String, String)>> {
    // Rows are checked against the categories before they are sent, so the foreign key
    // need not be checked row by row (it is checked as a whole below); indexes are built
    // once at the end instead of row by row.
    tx.batch_execute(
        "SET LOCAL session_replication_role = replica;
         SET LOCAL synchronous_commit = off;
         SET LOCAL maintenance_work_mem = '256MB';
         TRUNCATE workspace.workspace_items, workspace.workspace_categories RESTART IDENTITY",
    )
    .await?;
    let indexes: Vec<(String, String)> = tx
        .query(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
               FROM pg_index i
              WHERE i.indrelid = 'workspace.workspace_items'::regclass
                AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for (name, _) in &indexes {
        tx.batch_execute(&format!("DROP INDEX {name}")).await?;
    }
    Ok(indexes)
}

/// What a category row must satisfy before it is sent.
fn category_check(layout: &Layout) -> impl Fn(&[&[u8]]) -> Result<(), String> + Send + Sync {
    let cats = &layout.categories;
    let (c_name, c_display, c_color) = (
        cats.position("name").expect("mapped"),
        cats.position("display_name"),
        cats.position("color"),
    );
    move |f: &[&[u8]]| -> Result<(), String> {
        let name = copy::unescape(f[c_name]).ok_or("name is null")?;
        if name.trim().is_empty() {
            return Err("name is empty".into());
        }
        if c_display.is_some_and(|i| f[i] == b"\\N") {
            return Err("display_name is null".into());
        }
        if let Some(color) = c_color.and_then(|i| copy::unescape(f[i])) {
            let ok = color.len() == 7
                && color.starts_with('#')
                && color[1..].chars().all(|c| c.is_ascii_hexdigit());
            if !ok {
                return Err(format!("color {color:?} is not #RRGGBB"));
            }
        }
        Ok(())
    }
}

/// What an item row must satisfy before it is sent: its category among `known`.
fn item_check(
    layout: &Layout,
    known: HashSet<String>,
) -> impl Fn(&[&[u8]]) -> Result<(), String> + Send + Sync {
    let items = &layout.items;
    let pos = |c: &str| items.position(c).expect("required column mapped");
    let (i_title, i_cat, i_prio, i_status) = (
        pos("title"),
        pos("category"),
        pos("priority"),
        pos("status"),
    );
    move |f: &[&[u8]]| -> Result<(), String> {
        copy::unescape(f[i_title]).ok_or("title is null")?;
        let cat = copy::unescape(f[i_cat]).ok_or("category is null")?;
        if !known.contains(&cat) {
            return Err(format!(
                "category {cat:?} is not among the imported categories (orphaned)"
            ));
        }
        for (i, allowed, what) in [
            (i_prio, &PRIORITIES[..], "priority"),
            (i_status, &STATUSES[..], "status"),
        ] {
            let v = copy::unescape(f[i]).ok_or(format!("{what} is null"))?;
            if !allowed.contains(&v.as_str()) {
                return Err(format!("{what} {v:?} is not one of {}", allowed.join(", ")));
            }
        }
        Ok(())
    }
}

/// No item without its category, the id sequence past the last id, and COMMIT.
async fn check_and_commit(tx: &Client) -> anyhow::Result<()> {
    let orphans: i64 = tx
        .query_one(
            "SELECT count(*) FROM workspace.workspace_items i
              WHERE NOT EXISTS (SELECT 1 FROM workspace.workspace_categories c
                                 WHERE c.name = i.category)",
            &[],
        )
        .await?
        .get(0);
    anyhow::ensure!(
        orphans == 0,
        "{orphans} imported items name no imported category; nothing was committed"
    );
    tx.batch_execute(
        "SELECT setval(pg_get_serial_sequence('workspace.workspace_items', 'id'),
                       coalesce(max(id), 0) + 1, false)
           FROM workspace.workspace_items",
    )
    .await?;
    tx.batch_execute("COMMIT")
        .await
        .context("committing the import")
}

/// Peak resident memory of this process so far.
pub fn peak_rss_kib() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } == 0;
    if ok {
        // SAFETY: initialised by the successful call above.
        unsafe { usage.assume_init() }.ru_maxrss as u64
    } else {
        0
    }
}

/// How long the run has taken so far.
pub fn finish(report: &mut Report, started: Instant, outcome: impl Into<String>) {
    report.finished_at = Some(chrono::Utc::now());
    report.seconds = started.elapsed().as_secs_f64();
    report.outcome = outcome.into();
    report.peak_rss_kib = peak_rss_kib();
}
