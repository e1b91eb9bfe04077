//! `wsctl import`: the engine's import (`engine::import`), with a progress bar and lines
//! about progress on a terminal, and the outcome and the report's path at the end.

use std::io::IsTerminal;

use super::ImportArgs;
use crate::engine::import::{self, ImportOptions, Reporter};
use crate::import::Report;
use crate::stack::state::StateDir;

/// Lines about progress go to a terminal only; piped output is the summary alone.
struct Terminal;

impl Reporter for Terminal {
    fn say(&self, msg: &str) {
        if std::io::stderr().is_terminal() {
            eprintln!("{msg}");
        }
    }
    fn warn(&self, msg: &str) {
        eprintln!("{msg}");
    }
    fn progress(&self, total: u64) -> indicatif::ProgressBar {
        progress_bar(total)
    }
    fn tables(&self, report: &Report) {
        print_tables(report);
    }
    fn health_failed(&self, report: &crate::health::Report) {
        print!("{}", report.to_table());
    }
}

/// `--json`: stdout is one JSON document at the end; warnings and a failed health suite go
/// to stderr, progress nowhere.
struct Json;

impl Reporter for Json {
    fn say(&self, _: &str) {}
    fn warn(&self, msg: &str) {
        eprintln!("{msg}");
    }
    fn progress(&self, _: u64) -> indicatif::ProgressBar {
        indicatif::ProgressBar::hidden()
    }
    fn tables(&self, _: &Report) {}
    fn health_failed(&self, report: &crate::health::Report) {
        eprint!("{}", report.to_table());
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

pub async fn import(dir: &StateDir, args: ImportArgs) -> anyhow::Result<i32> {
    let opts = ImportOptions {
        from: args.from,
        dry_run: args.dry_run,
        cutover: args.cutover,
        backup_dir: args.backup_dir,
        no_backup: args.no_backup,
        report: args.report,
        batch_rows: args.batch_rows,
        remote_ok: args.remote_ok,
        schema: args.schema,
    };
    if args.json {
        let done = import::import(dir, &opts, &Json).await?;
        let out = serde_json::json!({
            "exit_code": done.code,
            "report_path": done.report_path,
            "report": done.report,
            // As the text output's last line: how to return to main as it was before cutover.
            "undo": done.report.cutover_snapshot.as_ref().map(|s| format!("wsctl rollback --to {s}")),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(done.code);
    }
    let done = import::import(dir, &opts, &Terminal).await?;
    print_rejected(&done.report);
    if let Some(b) = &done.report.backup {
        println!("Backup: {} ({} bytes)", b.path.display(), b.bytes);
    }
    println!("{}", done.report.outcome);
    println!("Report: {}", done.report_path.display());
    if let Some(snap) = &done.report.cutover_snapshot {
        println!("undo: wsctl rollback --to {snap}");
    }
    Ok(done.code)
}

/// How many rows were rejected and the first few with their reasons (all are in the report).
fn print_rejected(report: &Report) {
    const SHOWN: usize = 5;
    let all = &report.rejected;
    if all.is_empty() {
        return;
    }
    println!("Rejected: {} source rows", all.len());
    for r in all.iter().take(SHOWN) {
        println!("  {} {}: {}", r.table, r.source_key, r.reason);
    }
    if all.len() > SHOWN {
        println!("  … and {} more in the report", all.len() - SHOWN);
    }
}

fn print_tables(report: &Report) {
    let mut table = super::print::Table::new([
        "TABLE", "SOURCE", "IMPORTED", "REJECTED", "TARGET", "CHECKSUM", "VERIFIED",
    ]);
    for t in &report.tables {
        table.row([
            t.table.to_string(),
            t.source_rows.to_string(),
            t.imported_rows.to_string(),
            t.rejected_rows.to_string(),
            t.target_rows.to_string(),
            t.target_checksum.clone(),
            if t.verified { "ok" } else { "MISMATCH" }.to_string(),
        ]);
    }
    print!("{}", table.render());
}
