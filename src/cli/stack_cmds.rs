//! up, down, status, logs, init, psql, url, test, and the hidden supervise.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;

use super::print::{database_url_without_password, print_urls};
use super::UpArgs;
use crate::engine::up::{self, Prepared};
use crate::engine::{database, require_state, DEGRADED_EXIT, NOT_RUNNING_EXIT};
use crate::runtime::{Down, Logs, Purged, StatusReport};
use crate::stack::process;
use crate::stack::state::{Phase, StateDir};

pub async fn up(dir: &StateDir, args: UpArgs) -> anyhow::Result<i32> {
    let timeout = Duration::from_secs(args.timeout);
    let mut state = match up::prepare(dir, &args.options(), timeout).await? {
        Prepared::AlreadyRunning(state) => {
            println!("The stack is already running; nothing changed.");
            print_urls(dir, &state);
            return Ok(0);
        }
        Prepared::New(state) => state,
    };
    crate::engine::console::settle(dir, &mut state, args.no_console, args.console_port)?;
    if args.foreground {
        let ran = up::foreground(
            dir,
            state,
            |dir, state, report| {
                print!("{}", report.to_table());
                print_urls(dir, state);
                println!("Press Ctrl-C to stop.");
            },
            |width, name, line| {
                println!("{}", crate::runtime::log_lines::prefixed(width, name, line))
            },
        )
        .await;
        return match ran {
            Ok(()) => {
                println!("Stopped.");
                Ok(0)
            }
            Err(e)
                if e.downcast_ref::<crate::stack::hold::Interrupted>()
                    .is_some() =>
            {
                eprintln!("wsctl: {e}");
                Ok(130)
            }
            Err(e) => Err(e),
        };
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

/// `wsctl console`: the URL (and a browser on it with --open), or the console itself.
/// `serve`: run it (on this port, if given).
pub async fn console(
    dir: &StateDir,
    open: bool,
    serve: Option<Option<u16>>,
) -> anyhow::Result<i32> {
    if let Some(port) = serve {
        crate::telemetry::init(crate::config::LogFormat::Auto);
        crate::console::serve(dir.clone(), port).await?;
        return Ok(0);
    }
    let state = require_state(dir)?;
    let url = crate::engine::console::url(dir, &state)?;
    println!("{url}");
    if open {
        // xdg-open hands the URL to the desktop's browser; without a desktop there is none.
        let opened = std::process::Command::new("xdg-open")
            .arg(&url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if !opened.is_ok_and(|s| s.success()) {
            eprintln!("could not open a browser (xdg-open failed) — open the URL above yourself");
            return Ok(1);
        }
    }
    Ok(0)
}

pub async fn down(dir: &StateDir, purge: bool, yes: bool) -> anyhow::Result<i32> {
    if purge && dir.root.exists() {
        dir.check_purgeable()?;
    }
    let question = format!("Delete all data in {}?", dir.root.display());
    let what = "--purge deletes every database and file of this stack";
    if purge && !super::confirm::irreversible(what, &question, yes)? {
        return Ok(1);
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

type BranchList = anyhow::Result<Vec<database::BranchAccess>>;

pub async fn status(dir: &StateDir, json: bool) -> anyhow::Result<i32> {
    let report = crate::runtime::for_dir(dir).status(dir)?;
    // How to reach each branch, asked of the database only when the stack runs.
    let running_state = match &report {
        StatusReport::Native(n) => n.state.as_ref().filter(|_| n.running),
        StatusReport::Compose(s) => Some(&s.state).filter(|_| s.running),
    };
    let branches: BranchList = match running_state {
        Some(state) => database::branch_access(dir, state.clone()).await,
        None => Err(anyhow::anyhow!("the stack is not running")),
    };
    let n = match report {
        StatusReport::Native(n) => n,
        StatusReport::Compose(s) => {
            return super::container_cmds::print_status(dir, json, &s, &branches)
        }
    };
    let degraded: Vec<serde_json::Value> = n
        .degraded()
        .iter()
        .map(|s| serde_json::json!({"name": s.name, "down_since": s.down_since, "restarts": s.restarts}))
        .collect();
    let code = if !n.running {
        NOT_RUNNING_EXIT
    } else if degraded.is_empty() {
        0
    } else {
        DEGRADED_EXIT
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&native_json(dir, &n, degraded, &branches))?
        );
        return Ok(code);
    }
    let Some(state) = &n.state else {
        println!("No stack in {}.", dir.root.display());
        return Ok(NOT_RUNNING_EXIT);
    };
    if !n.running {
        println!("The stack is stopped ({}).", dir.root.display());
        return Ok(NOT_RUNNING_EXIT);
    }
    print_native_text(&n.status.clone().unwrap_or_default(), &degraded);
    println!();
    super::print::print_branch_access(&branches);
    println!();
    print_urls(dir, state);
    if let Some(line) = state.neon.as_ref().map(crate::stack::neon::exposed_ports) {
        println!("{line}");
    }
    Ok(code)
}

fn native_json(
    dir: &StateDir,
    n: &crate::runtime::NativeStatus,
    degraded: Vec<serde_json::Value>,
    branches: &BranchList,
) -> serde_json::Value {
    let (state, running, status) = (&n.state, n.running, &n.status);
    let services: Vec<serde_json::Value> = status
        .iter()
        .flat_map(|s| s.services.iter())
        .map(|s| {
            serde_json::json!({
                "name": s.name, "pid": s.pid, "alive": s.pid.is_some_and(process::alive),
                "restarts": s.restarts, "last_exit": s.last_exit, "log": s.log,
                "down_since": s.down_since,
            })
        })
        .collect();
    let phase = match (running, degraded.is_empty()) {
        (false, _) => serde_json::json!(Phase::Stopped),
        (true, false) => serde_json::json!("degraded"),
        (true, true) => serde_json::json!(status.as_ref().map(|s| s.phase)),
    };
    let (branch_list, branches_error) = super::print::branch_access_json(branches);
    serde_json::json!({
        "running": running,
        "phase": phase,
        "degraded": degraded,
        "state_dir": dir.root,
        "backend": state.as_ref().map(|s| s.backend),
        "api_url": state.as_ref().map(|s| format!("http://127.0.0.1:{}", s.api_port)),
        "pg_port": state.as_ref().map(|s| s.pg_port),
        // Without the password, as the text output gives it (`wsctl url` has it).
        "database_url": state.as_ref().map(database_url_without_password),
        "services": if running { services } else { Vec::new() },
        "branches": if running { branch_list } else { serde_json::json!([]) },
        "branches_error": if running { branches_error } else { serde_json::Value::Null },
    })
}

fn print_native_text(status: &crate::stack::state::Status, degraded: &[serde_json::Value]) {
    if degraded.is_empty() {
        println!(
            "Stack {:?} (supervisor pid {})",
            status.phase, status.supervisor_pid
        );
    } else {
        println!("Stack degraded (supervisor pid {})", status.supervisor_pid);
        for d in degraded {
            let since = d["down_since"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map_or("unknown".into(), |t| {
                    t.with_timezone(&chrono::Local)
                        .format("%H:%M:%S")
                        .to_string()
                });
            println!(
                "  {} is down or restarting since {since}",
                d["name"].as_str().unwrap_or("?")
            );
        }
    }
    let mut t = super::print::Table::new(["SERVICE", "STATE", "PID", "RESTARTS", "LAST EXIT"]);
    for s in &status.services {
        let alive = s.pid.is_some_and(process::alive);
        t.row([
            s.name.clone(),
            if alive { "running" } else { "down" }.to_string(),
            s.pid.map_or("-".into(), |p| p.to_string()),
            s.restarts.to_string(),
            s.last_exit.clone().unwrap_or_default(),
        ]);
    }
    print!("{}", t.render());
}

pub async fn logs(
    dir: &StateDir,
    service: Option<String>,
    follow: bool,
    tail: Option<usize>,
    since: Option<String>,
    json: bool,
) -> anyhow::Result<i32> {
    use crate::runtime::log_lines::{self, LogFiles, LogOptions};
    let opts = LogOptions {
        // Following starts near the end, as `tail -f` does, not with whole histories.
        tail: tail.or(follow.then_some(10)),
        since: since
            .map(|s| log_lines::parse_since(&s, chrono::Utc::now()))
            .transpose()?,
        raw: json,
    };
    let files = match crate::runtime::for_dir(dir).logs(dir, service.as_deref(), follow, tail)? {
        Logs::Files(files) => files,
        Logs::Compose {
            cmd,
            what,
            project,
            services,
        } => return compose_logs(*cmd, &what, &project, &services, &opts).await,
    };
    let mut logs = LogFiles::new(files, opts);
    let width = logs.width();
    let mut out = std::io::stdout().lock();
    for (name, line) in logs.history()? {
        writeln!(out, "{}", log_lines::prefixed(width, &name, &line))?;
    }
    out.flush()?;
    drop(out);
    if !follow {
        return Ok(0);
    }
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut out = std::io::stdout().lock();
        for (name, line) in logs.poll()? {
            writeln!(out, "{}", log_lines::prefixed(width, &name, &line))?;
        }
        out.flush()?;
    }
}

/// Prints `compose logs` as the native logs read: `name | line`, readable unless `--json`,
/// only lines from `--since` on (a line without a time goes with the one before it).
async fn compose_logs(
    cmd: std::process::Command,
    what: &str,
    project: &str,
    services: &[String],
    opts: &crate::runtime::log_lines::LogOptions,
) -> anyhow::Result<i32> {
    use crate::runtime::{compose_logs, log_lines};
    use tokio::io::AsyncBufReadExt;
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdout(std::process::Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().with_context(|| format!("running {what}"))?;
    let stdout = child.stdout.take().context("compose logs has no stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let width = services.iter().map(|s| s.len()).max().unwrap_or(8);
    let mut keep = true;
    while let Some(raw) = lines.next_line().await? {
        let Some(line) = compose_logs::parse(&raw, project) else {
            continue;
        };
        if let (Some(since), Some(t)) = (opts.since, line.time) {
            keep = t >= since;
        }
        if !keep {
            continue;
        }
        let text = if opts.raw {
            line.text
        } else {
            log_lines::readable(&line.text)
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", log_lines::prefixed(width, &line.service, &text))?;
        out.flush()?;
    }
    let status = child
        .wait()
        .await
        .with_context(|| format!("running {what}"))?;
    Ok(status.code().unwrap_or(1))
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

pub async fn psql(
    dir: &StateDir,
    args: Vec<String>,
    branch: Option<String>,
) -> anyhow::Result<i32> {
    let (mut cmd, psql) = database::psql(dir, args, branch.as_deref()).await?;
    let status = cmd
        .status()
        .with_context(|| format!("running {} — install PostgreSQL's client", psql.display()))?;
    Ok(status.code().unwrap_or(1))
}

pub async fn url(dir: &StateDir, api: bool, branch: Option<String>) -> anyhow::Result<i32> {
    println!("{}", database::url(dir, api, branch.as_deref()).await?);
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
