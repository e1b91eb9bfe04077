//! `wsctl import`: source → backup → a new branch → verify → (cutover | dry run | keep).
//!
//! Crash safety: a marker file names the branch an import is filling; a run that finds the
//! marker deletes that branch first, so a rerun after kill -9 starts cleanly. Main changes
//! only at cutover, in one step (an atomic rename on PostgreSQL, a timeline switch on Neon),
//! after an automatic snapshot.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};

use super::ImportArgs;
use crate::branch::Name;
use crate::engine::branches::open_running;
use crate::engine::require_state;
use crate::import::{self, Report};
use crate::stack::postgres::PgBinaries;
use crate::stack::state::{Lock, StackState, StateDir};

fn private_dir(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// Lines about progress go to a terminal only; piped output is the summary alone.
fn say(msg: &str) {
    if std::io::stderr().is_terminal() {
        eprintln!("{msg}");
    }
}

fn progress_bar(total: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg:16} [{bar:25}] {human_pos}/{human_len} rows  {rate}  eta {eta}",
        )
        .expect("a valid template")
        .with_key(
            "rate",
            |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0} rows/s", s.per_sec());
            },
        )
        .progress_chars("=> "),
    );
    bar.set_message("copying");
    bar
}

/// The import branch, on whichever backend runs.
async fn create_branch(
    dir: &StateDir,
    name: &Name,
    source: &str,
) -> anyhow::Result<tokio_postgres::Config> {
    open_running(dir).await?.import_target(name, source).await
}

async fn delete_branch(dir: &StateDir, name: &str) -> anyhow::Result<()> {
    open_running(dir).await?.drop_import(name).await
}

/// Makes the import branch main; returns the snapshot that holds main as it was.
async fn cutover(dir: &StateDir, name: &str, source: &str) -> anyhow::Result<String> {
    open_running(dir).await?.cutover(name, source).await
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

pub async fn import(dir: &StateDir, args: ImportArgs) -> anyhow::Result<i32> {
    let state = require_state(dir)?;
    if !Lock::is_held(&dir.lock_file())? {
        bail!("the stack is not running — `wsctl up` first");
    }
    let started = Instant::now();
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string();
    let imports = dir.root.join("imports");
    private_dir(&imports)?;
    // One import at a time: a second would take the first's branch for an interrupted one.
    let _lock = Lock::try_acquire(&imports.join("lock"))?
        .context("another `wsctl import` is running on this stack — wait for it to finish")?;
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| imports.join(format!("import-{stamp}.json")));
    let mut report = Report {
        started_at: Some(chrono::Utc::now()),
        dry_run: args.dry_run,
        ..Report::default()
    };
    let result = run(dir, &state, &args, &stamp, &imports, &mut report).await;
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
        Ok(_) => {
            println!("{}", report.outcome);
            println!("Report: {}", report_path.display());
            Ok(code)
        }
        Err(e) => Err(e.context(format!(
            "import failed; main is unchanged (report: {})",
            report_path.display()
        ))),
    }
}

#[allow(clippy::too_many_lines)] // issue 14: over 100 lines, still to split
async fn run(
    dir: &StateDir,
    state: &StackState,
    args: &ImportArgs,
    stamp: &str,
    imports: &Path,
    report: &mut Report,
) -> anyhow::Result<i32> {
    let mut source_cfg: tokio_postgres::Config = args.from.parse().map_err(|_| {
        anyhow::anyhow!(
            "--from is not a PostgreSQL URL — expected postgres://USER@HOST:PORT/DATABASE (the \
             password in WSCTL_IMPORT_FROM or a passfile)"
        )
    })?;
    if source_cfg.get_password().is_some() {
        if std::env::var("WSCTL_IMPORT_FROM").ok().as_deref() != Some(args.from.as_str()) {
            eprintln!(
                "warning: the --from URL holds a password, which every local user can read in \
                 the process list (ps). Set WSCTL_IMPORT_FROM instead of --from, or leave the \
                 password out and put it in ~/.pgpass (or the file PGPASSFILE names)."
            );
        }
    } else if let Some(password) = import::passfile::lookup(&source_cfg) {
        source_cfg.password(password);
    }
    let source_name = import::describe(&source_cfg);
    report.source = source_name.clone();

    // Everything about the source is settled before anything is created here.
    let source = crate::db::connect_user(&source_cfg).await?;
    let snapshot = import::begin_source(&source).await?;
    let layout = import::source::inspect(&source).await?;
    let total = import::source_rows(&source, &layout).await?;
    say(&format!(
        "Source {source_name}: {:?} layout, {total} rows in categories and items.",
        layout.variant
    ));
    report.layout = Some(layout.clone());

    let marker = Marker(imports.join("in-progress"));
    if let Some(old) = marker.take() {
        say(&format!("Removing branch {old} of an interrupted import."));
        delete_branch(dir, &old).await?;
        marker.clear();
    }

    let backup = if args.no_backup {
        None
    } else {
        let dir_ = args
            .backup_dir
            .clone()
            .unwrap_or_else(|| dir.root.join("backups"));
        private_dir(&dir_)?;
        let db = source_cfg.get_dbname().unwrap_or("source");
        let file = dir_.join(import::backup::file_name(db, stamp));
        let pg_dump = PgBinaries::discover(state.pg_bin.as_deref())?.trusted_tool("pg_dump")?;
        let child = import::backup::start(&pg_dump, &source_cfg, &snapshot, &file)?;
        Some((child, file, Instant::now()))
    };

    let name = Name::parse(&format!("import-{stamp}"))?;
    marker.set(name.as_str())?;
    say(&format!(
        "Creating branch {} for the import.",
        name.as_str()
    ));
    let loaded = async {
        let mut t = Instant::now();
        let target_cfg = create_branch(dir, &name, &source_name).await?;
        report.mark("create branch", &mut t);
        report.branch = Some(name.as_str().to_string());
        let bar = progress_bar(total);
        let id_map = (layout.variant == import::Variant::Uuid)
            .then(|| imports.join(format!("import-{stamp}-ids.csv")));
        import::Load {
            layout: &layout,
            target: &target_cfg,
            batch_rows: args.batch_rows,
            progress: &bar,
            id_map,
        }
        .run(&source, report)
        .await?;
        bar.finish_and_clear();
        let mut t = Instant::now();
        if let Some((child, file, started)) = backup {
            say("Waiting for the backup to finish.");
            report.backup = Some(import::backup::finish(child, &file, started).await?);
            report.mark("wait for the backup", &mut t);
        }
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = loaded {
        // Best effort: a rerun removes the branch through the marker anyway.
        if delete_branch(dir, name.as_str()).await.is_ok() {
            marker.clear();
        }
        return Err(e);
    }
    marker.clear();
    print_tables(report);

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
    if args.dry_run {
        delete_branch(dir, name.as_str()).await?;
        report.outcome = format!(
            "Dry run: {items} items imported and verified ({rejected} source rows rejected, listed \
             in the report). --cutover would snapshot main and make the import main; the branch \
             was deleted and main is unchanged."
        );
        return Ok(0);
    }
    if args.cutover {
        let snap = cutover(dir, name.as_str(), &source_name).await?;
        report.cutover_snapshot = Some(snap.clone());
        // Reloaded: on Neon the cutover moved main to another timeline.
        let health = crate::health::run(dir, &require_state(dir)?).await;
        report.outcome = format!(
            "Main now holds the import: {items} items verified ({rejected} rejected, see the \
             report). Snapshot {snap} holds main as it was — `wsctl rollback --to {snap}` undoes \
             the cutover. Health suite: {}.",
            if health.passed() { "passed" } else { "FAILED" }
        );
        if !health.passed() {
            print!("{}", health.to_table());
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

fn print_tables(report: &Report) {
    for t in &report.tables {
        println!(
            "{}",
            format_args!(
            "  {:22} source {:>9} rows  imported {:>9}  rejected {:>6}  target {:>9}  checksum {} {}",
            t.table,
            t.source_rows,
            t.imported_rows,
            t.rejected_rows,
            t.target_rows,
            t.target_checksum,
            if t.verified { "ok" } else { "MISMATCH" }
            )
        );
    }
}
