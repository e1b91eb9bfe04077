//! `wsctl import`: source → backup → a new branch → verify → (cutover | dry run | keep).
//!
//! Crash safety: a marker file names the branch an import is filling; a run that finds the
//! marker deletes that branch first, so a rerun after kill -9 starts cleanly. Main changes
//! only at cutover, in one step (an atomic rename on PostgreSQL, a timeline switch on Neon),
//! after an automatic snapshot.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use tokio_postgres::Client;

use super::branches::open_for_change;
use super::require_state;
use crate::branch::Name;
use crate::import::{self, Layout, Report};
use crate::stack::postgres::PgBinaries;
use crate::stack::state::{Lock, StackState, StateDir};

/// What `wsctl import` was asked for.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The source's URL (only ever read).
    pub from: String,
    pub dry_run: bool,
    pub cutover: bool,
    pub backup_dir: Option<PathBuf>,
    pub no_backup: bool,
    pub report: Option<PathBuf>,
    pub batch_rows: usize,
    /// Write even when the import's target is not on this machine.
    pub remote_ok: bool,
    /// The source schema holding the tables; found when `None`.
    pub schema: Option<String>,
}

/// How an import tells its front end what it is doing.
pub trait Reporter: Sync {
    /// A line about progress.
    fn say(&self, msg: &str);
    /// A warning the user must see.
    fn warn(&self, msg: &str);
    /// A progress bar over `total` source rows.
    fn progress(&self, total: u64) -> indicatif::ProgressBar;
    /// The per-table results, once the load is verified (or not).
    fn tables(&self, report: &Report);
    /// The health suite failed after a cutover.
    fn health_failed(&self, report: &crate::health::Report);
}

/// A finished import: its exit code, the report (with its outcome) and where it was written.
pub struct Imported {
    pub code: i32,
    pub report: Report,
    pub report_path: PathBuf,
}

fn private_dir(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// The import branch, on whichever backend runs.
async fn create_branch(
    dir: &StateDir,
    name: &Name,
    source: &str,
) -> anyhow::Result<tokio_postgres::Config> {
    open_for_change(dir)
        .await?
        .import_target(name, source)
        .await
}

async fn delete_branch(dir: &StateDir, name: &str) -> anyhow::Result<()> {
    open_for_change(dir).await?.drop_import(name).await
}

/// Makes the import branch main; returns the snapshot that holds main as it was.
async fn cutover(dir: &StateDir, name: &str, source: &str) -> anyhow::Result<String> {
    open_for_change(dir).await?.cutover(name, source).await
}

/// An import reads its source while it copies main into a branch: from main (or one of its
/// branches) itself that copy cannot start, so such a source is refused before anything —
/// a backup file included — is created.
fn refuse_own_database(state: &StackState, cfg: &tokio_postgres::Config) -> anyhow::Result<()> {
    use tokio_postgres::config::Host;
    let local = cfg.get_hosts().iter().all(|h| match h {
        Host::Tcp(name) => ["localhost", "127.0.0.1", "::1"].contains(&name.as_str()),
        Host::Unix(_) => true,
    });
    let mut ports = vec![state.pg_port, state.api_pg_port()];
    if let Some(n) = &state.neon {
        ports.extend(n.branches.iter().map(|b| b.pg_port));
    }
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    let db = cfg.get_dbname().unwrap_or_default();
    let ours = db == state.database || db.starts_with(crate::branch::BRANCH_PREFIX);
    if local && ports.contains(&port) && ours {
        anyhow::bail!(
            "--from is this stack's own database ({db} on port {port}) — an import reads an \
             older Workspace database; point --from at that one (nothing was created)"
        );
    }
    Ok(())
}

/// The branch an interrupted import left behind, if any.
struct Marker(PathBuf);

impl Marker {
    fn take(&self) -> Option<String> {
        let name = std::fs::read_to_string(&self.0).ok()?;
        Some(name.trim().to_string())
    }
    fn set(&self, name: &str) -> anyhow::Result<()> {
        crate::stack::state::write_atomic(&self.0, name.as_bytes(), 0o600)
    }
    fn clear(&self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs the import and writes its report, also when it fails.
pub async fn import(
    dir: &StateDir,
    opts: &ImportOptions,
    r: &dyn Reporter,
) -> anyhow::Result<Imported> {
    let state = super::require_running(dir)?;
    let started = Instant::now();
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string();
    let imports = dir.root.join("imports");
    private_dir(&imports)?;
    // One import at a time: a second would take the first's branch for an interrupted one.
    let _lock = Lock::try_acquire(&imports.join("lock"))?
        .context("another `wsctl import` is running on this stack — wait for it to finish")?;
    let report_path = opts
        .report
        .clone()
        .unwrap_or_else(|| imports.join(format!("import-{stamp}.json")));
    let mut report = Report {
        started_at: Some(chrono::Utc::now()),
        dry_run: opts.dry_run,
        ..Report::default()
    };
    let run = Run {
        dir,
        state: &state,
        opts,
        stamp: &stamp,
        imports: &imports,
        r,
    };
    let result = run.run(&mut report).await;
    let code = match &result {
        Ok(code) => *code,
        Err(e) => {
            import::finish(&mut report, started, format!("failed: {e:#}"));
            1
        }
    };
    if result.is_ok() {
        let outcome = std::mem::take(&mut report.outcome);
        import::finish(&mut report, started, outcome);
    }
    let json = serde_json::to_vec_pretty(&report)?;
    std::io::Write::write_all(
        &mut crate::stack::state::create_private(&report_path)?,
        &json,
    )?;
    match result {
        Ok(_) => Ok(Imported {
            code,
            report,
            report_path,
        }),
        // The reason first, on its own line; where to look next after it.
        Err(e) => Err(anyhow::anyhow!(
            "{e:#}\nimport failed; main is unchanged (report: {})",
            report_path.display()
        )),
    }
}

/// One import's settings, shared by its steps.
struct Run<'a> {
    dir: &'a StateDir,
    state: &'a StackState,
    opts: &'a ImportOptions,
    stamp: &'a str,
    imports: &'a Path,
    r: &'a dyn Reporter,
}

/// The source as the import reads it.
struct Source {
    cfg: tokio_postgres::Config,
    name: String,
    client: Client,
    /// The exported snapshot pg_dump reads too.
    snapshot: String,
    layout: Layout,
    total: u64,
}

/// The backup of the source, while pg_dump runs.
type Backup = (tokio::process::Child, PathBuf, Instant);

impl Run<'_> {
    async fn run(&self, report: &mut Report) -> anyhow::Result<i32> {
        // Everything about the source is settled before anything is created here.
        let source = self.open_source(report).await?;
        let marker = Marker(self.imports.join("in-progress"));
        if let Some(old) = marker.take() {
            self.r
                .say(&format!("Removing branch {old} of an interrupted import."));
            delete_branch(self.dir, &old).await?;
            marker.clear();
        }
        let backup = self.start_backup(&source)?;
        let name = Name::parse(&format!("import-{}", self.stamp))?;
        marker.set(name.as_str())?;
        self.r.say(&format!(
            "Creating branch {} for the import.",
            name.as_str()
        ));
        if let Err(e) = self.load(&source, &name, backup, report).await {
            // Best effort: a rerun removes the branch through the marker anyway.
            if delete_branch(self.dir, name.as_str()).await.is_ok() {
                marker.clear();
            }
            return Err(e);
        }
        marker.clear();
        self.r.tables(report);
        self.conclude(&source, &name, report).await
    }

    /// The source's URL (with a password from a passfile), its snapshot, layout and size.
    async fn open_source(&self, report: &mut Report) -> anyhow::Result<Source> {
        let from = &self.opts.from;
        let mut cfg: tokio_postgres::Config = from.parse().map_err(|_| {
            anyhow::anyhow!(
                "--from is not a PostgreSQL URL — expected postgres://USER@HOST:PORT/DATABASE (the \
                 password in WSCTL_IMPORT_FROM or a passfile)"
            )
        })?;
        if cfg.get_password().is_some() {
            if std::env::var("WSCTL_IMPORT_FROM").ok().as_deref() != Some(from.as_str()) {
                self.r.warn(
                    "warning: the --from URL holds a password, which every local user can read in \
                     the process list (ps). Set WSCTL_IMPORT_FROM instead of --from, or leave the \
                     password out and put it in ~/.pgpass (or the file PGPASSFILE names).",
                );
            }
        } else if let Some(password) = import::passfile::lookup(&cfg) {
            cfg.password(password);
        }
        let name = import::describe(&cfg);
        report.source = name.clone();
        refuse_own_database(self.state, &cfg)?;
        let client = crate::db::connect_user(&cfg).await?;
        let schema = import::source::find_schema(&client, self.opts.schema.as_deref()).await?;
        let snapshot = import::begin_source(&client).await?;
        let layout = import::source::inspect(&client, &schema).await?;
        let total = import::source_rows(&client, &layout).await?;
        self.r.say(&format!(
            "Source {name}: {:?} layout, {total} rows in categories and items.",
            layout.variant
        ));
        report.layout = Some(layout.clone());
        Ok(Source {
            cfg,
            name,
            client,
            snapshot,
            layout,
            total,
        })
    }

    /// pg_dump of the source's snapshot, running while the load does.
    fn start_backup(&self, source: &Source) -> anyhow::Result<Option<Backup>> {
        if self.opts.no_backup {
            return Ok(None);
        }
        let dir = self
            .opts
            .backup_dir
            .clone()
            .unwrap_or_else(|| self.dir.root.join("backups"));
        private_dir(&dir)?;
        let db = source.cfg.get_dbname().unwrap_or("source");
        let file = dir.join(import::backup::file_name(db, self.stamp));
        let pg_dump =
            PgBinaries::discover(self.state.pg_bin.as_deref())?.trusted_tool("pg_dump")?;
        let child = import::backup::start(&pg_dump, &source.cfg, &source.snapshot, &file)?;
        Ok(Some((child, file, Instant::now())))
    }

    /// Creates the branch, fills and verifies it, and waits for the backup.
    async fn load(
        &self,
        source: &Source,
        name: &Name,
        backup: Option<Backup>,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let mut t = Instant::now();
        let target_cfg = create_branch(self.dir, name, &source.name).await?;
        // The stack's own database is on this machine; a target that is not is refused
        // before a row is written.
        super::database::check_loopback(&target_cfg, "the import branch", self.opts.remote_ok)?;
        report.mark("create branch", &mut t);
        report.branch = Some(name.as_str().to_string());
        let bar = self.r.progress(source.total);
        let id_map = (source.layout.variant == import::Variant::Uuid)
            .then(|| self.imports.join(format!("import-{}-ids.csv", self.stamp)));
        import::Load {
            layout: &source.layout,
            target: &target_cfg,
            batch_rows: self.opts.batch_rows,
            progress: &bar,
            id_map,
        }
        .run(&source.client, report)
        .await?;
        bar.finish_and_clear();
        let mut t = Instant::now();
        if let Some((child, file, started)) = backup {
            self.r.say("Waiting for the backup to finish.");
            report.backup = Some(import::backup::finish(child, &file, started).await?);
            report.mark("wait for the backup", &mut t);
        }
        Ok(())
    }

    /// Keeps, deletes (dry run) or cuts over to the verified branch; sets the outcome.
    async fn conclude(
        &self,
        source: &Source,
        name: &Name,
        report: &mut Report,
    ) -> anyhow::Result<i32> {
        if !report.verified {
            report.outcome = format!(
                "Verification FAILED: counts or checksums differ (see the report). Branch {} is kept \
                 for inspection; main is unchanged.",
                name.as_str()
            );
            return Ok(1);
        }
        let rejected = report.rejected.len();
        let items = report.tables.get(1).map_or(0, |t| t.imported_rows);
        if self.opts.dry_run {
            delete_branch(self.dir, name.as_str()).await?;
            report.outcome = format!(
                "Dry run: {items} items imported and verified ({rejected} source rows rejected, listed \
                 in the report). --cutover would snapshot main and make the import main; the branch \
                 was deleted and main is unchanged."
            );
            return Ok(0);
        }
        if self.opts.cutover {
            let snap = cutover(self.dir, name.as_str(), &source.name).await?;
            report.cutover_snapshot = Some(snap.clone());
            // Reloaded: on Neon the cutover moved main to another timeline.
            let health = crate::health::run(self.dir, &require_state(self.dir)?).await;
            report.outcome = format!(
                "Main now holds the import: {items} items verified ({rejected} rejected, see the \
                 report). Snapshot {snap} holds main as it was — `wsctl rollback --to {snap}` undoes \
                 the cutover. Health suite: {}.",
                if health.passed() { "passed" } else { "FAILED" }
            );
            if !health.passed() {
                self.r.health_failed(&health);
                return Ok(1);
            }
            return Ok(0);
        }
        report.outcome = format!(
            "Imported {items} items into branch {b} and verified them ({rejected} rejected, see the \
             report); main is unchanged. Try it with `wsctl branch switch {b}`, or rerun with \
             --cutover.",
            b = name.as_str()
        );
        Ok(0)
    }
}

/// A verified import branch made main by `wsctl branch promote`.
pub struct Promoted {
    /// The snapshot that holds main as it was.
    pub snapshot: String,
    pub health: crate::health::Report,
}

/// Makes import branch `name` main through the same cutover `import --cutover` runs (main is
/// snapshotted first, so `wsctl rollback` undoes it) — only when a report in `imports/` says
/// the branch was verified and not already cut over. Nothing is imported again.
pub async fn promote(dir: &StateDir, name: &str) -> anyhow::Result<Promoted> {
    super::require_running(dir)?;
    let imports = dir.root.join("imports");
    let _lock = Lock::try_acquire(&imports.join("lock"))?
        .context("a `wsctl import` is running on this stack — wait for it to finish")?;
    let (path, mut report) = find_report(&imports, name)?.with_context(|| {
        format!(
            "branch {name} is not a kept import: no report in {} names it — promote takes \
             the branch a plain `wsctl import` left (see `wsctl branch list`)",
            imports.display()
        )
    })?;
    if report["verified"] != serde_json::json!(true) {
        anyhow::bail!(
            "import branch {name} failed verification (report: {}) — it cannot become main; \
             fix the source and import again",
            path.display()
        );
    }
    if let Some(snap) = report["cutover_snapshot"].as_str() {
        anyhow::bail!(
            "import branch {name} was already made main (snapshot {snap} holds main before it)"
        );
    }
    let source = report["source"].as_str().unwrap_or(name).to_string();
    let snapshot = cutover(dir, name, &source).await?;
    report["cutover_snapshot"] = serde_json::json!(snapshot);
    crate::stack::state::write_atomic(&path, &serde_json::to_vec_pretty(&report)?, 0o600)?;
    let health = crate::health::run(dir, &require_state(dir)?).await;
    Ok(Promoted { snapshot, health })
}

/// The report of the run that left import branch `name`, if one did.
fn find_report(imports: &Path, name: &str) -> anyhow::Result<Option<(PathBuf, serde_json::Value)>> {
    let Ok(entries) = std::fs::read_dir(imports) else {
        return Ok(None);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().map_or(true, |e| e != "json") {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        if v["branch"] == serde_json::json!(name) && v["dry_run"] != serde_json::json!(true) {
            return Ok(Some((path, v)));
        }
    }
    Ok(None)
}
