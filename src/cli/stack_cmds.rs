//! up, down, status, logs, init, psql, url, test, and the hidden supervise.

use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::time::Duration;

use anyhow::{bail, Context};

use super::print::{database_url_without_password, print_urls};
use super::UpArgs;
use crate::engine::up::{self, Prepared};
use crate::engine::{database, require_state};
use crate::runtime::{Down, Logs, Purged, StatusReport};
use crate::stack::process;
use crate::stack::state::{Phase, StateDir};

pub async fn up(dir: &StateDir, args: UpArgs) -> anyhow::Result<i32> {
    let timeout = Duration::from_secs(args.timeout);
    let state = match up::prepare(dir, &args.options(), timeout).await? {
        Prepared::AlreadyRunning(state) => {
            println!("The stack is already running; nothing changed.");
            print_urls(dir, &state);
            return Ok(0);
        }
        Prepared::New(state) => state,
    };
    if args.foreground {
        up::foreground(dir, state, |dir, state, report| {
            print!("{}", report.to_table());
            print_urls(dir, state);
            println!("Press Ctrl-C to stop.");
        })
        .await?;
        return Ok(0);
    }
    let started = up::detached(dir, &state, timeout).await?;
    print!("{}", started.report.to_table());
    println!("Stack up in {:.1} s.", started.took.as_secs_f64());
    print_urls(dir, &state);
    Ok(if started.report.passed() { 0 } else { 1 })
}

pub async fn supervise(dir: &StateDir) -> anyhow::Result<i32> {
    let state = require_state(dir)?;
    crate::telemetry::init(crate::config::LogFormat::Json);
    crate::runtime::lifecycle::supervise(dir, state).await?;
    Ok(0)
}

pub async fn down(dir: &StateDir, purge: bool, yes: bool) -> anyhow::Result<i32> {
    if purge && dir.root.exists() {
        dir.check_purgeable()?;
    }
    if purge && !yes {
        if !std::io::stdin().is_terminal() {
            bail!("--purge deletes every database and file of this stack; pass --yes to confirm when not on a terminal");
        }
        print!("Delete all data in {}? Type 'yes': ", dir.root.display());
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            println!("Nothing deleted.");
            return Ok(1);
        }
    }
    let runtime = crate::runtime::for_dir(dir);
    match runtime.down(dir).await? {
        Down::Stopped { took } => println!("Stopped in {:.1} s.", took.as_secs_f64()),
        Down::ContainersWithoutWatcher { project, took } => println!(
            "Stopped the containers of project {project} (no watcher was running) in {:.1} s.",
            took.as_secs_f64()
        ),
        Down::LeftoverPostmaster { pid } => {
            println!("Stopped a PostgreSQL (pid {pid}) left without a supervisor.")
        }
        Down::NotRunning => println!("The stack is not running."),
    }
    if purge {
        match runtime.purge(dir)? {
            Purged::Native { root: None } => {}
            Purged::Native { root: Some(root) } => println!("Deleted {}.", root.display()),
            Purged::Compose { project, root } => println!(
                "Deleted the volumes of project {project} and {}.",
                root.display()
            ),
        }
    }
    Ok(0)
}

pub fn status(dir: &StateDir, json: bool) -> anyhow::Result<i32> {
    let (state, running, status) = match crate::runtime::for_dir(dir).status(dir)? {
        StatusReport::Native(n) => (n.state, n.running, n.status),
        StatusReport::Compose(s) => return super::container_cmds::print_status(dir, json, &s),
    };
    if json {
        let services: Vec<serde_json::Value> = status
            .iter()
            .flat_map(|s| s.services.iter())
            .map(|s| {
                serde_json::json!({
                    "name": s.name, "pid": s.pid, "alive": s.pid.is_some_and(process::alive),
                    "restarts": s.restarts, "last_exit": s.last_exit, "log": s.log,
                })
            })
            .collect();
        let out = serde_json::json!({
            "running": running,
            "phase": if running { status.as_ref().map(|s| s.phase) } else { Some(Phase::Stopped) },
            "state_dir": dir.root,
            "backend": state.as_ref().map(|s| s.backend),
            "api_url": state.as_ref().map(|s| format!("http://127.0.0.1:{}", s.api_port)),
            "pg_port": state.as_ref().map(|s| s.pg_port),
            // Without the password, as the text output gives it (`wsctl url` has it).
            "database_url": state.as_ref().map(database_url_without_password),
            "services": if running { services } else { Vec::new() },
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(if running { 0 } else { 3 });
    }
    let Some(state) = state else {
        println!("No stack in {}.", dir.root.display());
        return Ok(3);
    };
    if !running {
        println!("The stack is stopped ({}).", dir.root.display());
        return Ok(3);
    }
    let status = status.unwrap_or_default();
    println!(
        "Stack {:?} (supervisor pid {})",
        status.phase, status.supervisor_pid
    );
    for s in &status.services {
        let alive = s.pid.is_some_and(process::alive);
        println!(
            "  {:14} {:8} pid {:>7}  restarts {}{}",
            s.name,
            if alive { "running" } else { "down" },
            s.pid.map_or("-".into(), |p| p.to_string()),
            s.restarts,
            s.last_exit
                .as_ref()
                .map_or(String::new(), |e| format!("  (last exit: {e})"))
        );
    }
    print_urls(dir, &state);
    if let Some(line) = state.neon.as_ref().map(crate::stack::neon::exposed_ports) {
        println!("{line}");
    }
    Ok(0)
}

pub async fn logs(dir: &StateDir, service: Option<String>, follow: bool) -> anyhow::Result<i32> {
    let files = match crate::runtime::for_dir(dir).logs(dir, service.as_deref(), follow)? {
        Logs::Files(files) => files,
        Logs::Command { mut cmd, what } => {
            let status = cmd.status().with_context(|| format!("running {what}"))?;
            return Ok(status.code().unwrap_or(1));
        }
    };
    let mut offsets = Vec::new();
    for f in &files {
        let mut file = std::fs::File::open(f)?;
        if files.len() > 1 {
            println!("==> {} <==", f.display());
        }
        let mut text = Vec::new();
        file.read_to_end(&mut text)?;
        std::io::stdout().write_all(&text)?;
        offsets.push(text.len() as u64);
    }
    if !follow {
        return Ok(0);
    }
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        for (f, offset) in files.iter().zip(offsets.iter_mut()) {
            let mut file = std::fs::File::open(f)?;
            let len = file.metadata()?.len();
            if len < *offset {
                *offset = 0; // truncated or replaced
            }
            if len > *offset {
                file.seek(SeekFrom::Start(*offset))?;
                let mut text = Vec::new();
                file.read_to_end(&mut text)?;
                std::io::stdout().write_all(&text)?;
                std::io::stdout().flush()?;
                *offset = len;
            }
        }
    }
}

pub async fn init(
    dir: &StateDir,
    database_url: Option<String>,
    remote_ok: bool,
) -> anyhow::Result<i32> {
    let done = database::init(dir, database_url, remote_ok).await?;
    println!(
        "Schema at migration {} on {} ({} applied now).",
        done.latest, done.target, done.applied
    );
    Ok(0)
}

pub fn psql(dir: &StateDir, args: Vec<String>) -> anyhow::Result<i32> {
    let (mut cmd, psql) = database::psql(dir, args)?;
    let status = cmd
        .status()
        .with_context(|| format!("running {} — install PostgreSQL's client", psql.display()))?;
    Ok(status.code().unwrap_or(1))
}

pub fn url(dir: &StateDir, api: bool) -> anyhow::Result<i32> {
    println!("{}", database::url(dir, api)?);
    Ok(0)
}

pub async fn test(dir: &StateDir, json: bool) -> anyhow::Result<i32> {
    let report = database::test(dir).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(if report.passed() { 0 } else { 1 })
}
