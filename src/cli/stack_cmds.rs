//! up, down, status, logs, init, psql, url, test, and the hidden supervise.

use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::print::{database_url_without_password, print_urls};
use super::UpArgs;
use crate::engine::require_state;
use crate::engine::up::{chosen_ports, file_config};
use crate::runtime::{Down, Logs, Purged, StatusReport};
use crate::stack::state::{BackendKind, Lock, Phase, StackState, StateDir};
use crate::stack::supervisor;
use crate::stack::{ports, postgres, process};

/// Decides ports and binaries (flags > config file > previous state > defaults), checks them,
/// and writes state.json.
#[allow(clippy::too_many_lines)] // issue 14: over 100 lines, still to split
fn prepare(dir: &StateDir, args: &UpArgs) -> anyhow::Result<StackState> {
    let file = file_config(dir)?;
    let previous = dir.load()?;
    let backend = args
        .backend
        .or(file.backend)
        .or(previous.as_ref().map(|p| p.backend))
        .unwrap_or(BackendKind::Postgres);
    let (pg_port, api_port) = chosen_ports((args.pg_port, args.api_port), &file, previous.as_ref());
    let state = match backend {
        BackendKind::Postgres => {
            let pg_bin = args
                .pg_bin
                .clone()
                .or_else(|| std::env::var_os("WSCTL_PG_BIN").map(PathBuf::from))
                .or(file.pg_bin);
            let bins = postgres::PgBinaries::discover(pg_bin.as_deref())?;
            StackState {
                version: 1,
                backend,
                pg_port,
                api_port,
                database: "workspace".into(),
                superuser: "postgres".into(),
                pg_bin: Some(bins.bindir),
                active_branch: previous.as_ref().and_then(|p| p.active_branch.clone()),
                previews: previous
                    .as_ref()
                    .map(|p| p.previews.clone())
                    .unwrap_or_default(),
                lifecycle: previous
                    .as_ref()
                    .map(|p| p.lifecycle.clone())
                    .unwrap_or_default(),
                neon_dir: None,
                neon: None,
                containers: None,
            }
        }
        BackendKind::Neon => {
            let neon_dir = args
                .neon_dir
                .clone()
                .or(previous.as_ref().and_then(|p| p.neon_dir.clone()));
            let bins = crate::stack::neon::NeonBinaries::discover(neon_dir.as_deref())?;
            for program in crate::stack::neon::PROGRAMS {
                crate::stack::trust::check(&bins.program(program), "Neon program")?;
            }
            let mut neon = match previous.as_ref().and_then(|p| p.neon.clone()) {
                Some(n) => {
                    if args.placement.any() {
                        bail!(
                            "remote storage and listen/advertise hosts are fixed when a stack is \
                             created — `wsctl down --purge` first to start over with new ones"
                        );
                    }
                    if args.safekeepers.is_some_and(|k| k != n.safekeepers) {
                        bail!(
                            "this stack was created with {} safekeeper(s); the count cannot change \
                             in place — `wsctl down --purge` first to start over",
                            n.safekeepers
                        );
                    }
                    n
                }
                None if std::env::var("WSCTL_NEON_PORTS").as_deref() == Ok("auto") => {
                    crate::stack::neon::NeonState::with_free_ports(args.safekeepers.unwrap_or(1))?
                }
                None => crate::stack::neon::NeonState::new(args.safekeepers.unwrap_or(1)),
            };
            if previous.as_ref().and_then(|p| p.neon.as_ref()).is_none() {
                args.placement.apply(&mut neon)?;
            }
            for (port, service) in neon.ports() {
                ports::ensure_free(port, &service, "a different port in state.json")?;
            }
            StackState {
                version: 1,
                backend,
                pg_port,
                api_port,
                database: "workspace".into(),
                superuser: "cloud_admin".into(),
                pg_bin: None,
                active_branch: previous.as_ref().and_then(|p| p.active_branch.clone()),
                previews: previous
                    .as_ref()
                    .map(|p| p.previews.clone())
                    .unwrap_or_default(),
                lifecycle: previous
                    .as_ref()
                    .map(|p| p.lifecycle.clone())
                    .unwrap_or_default(),
                neon_dir: Some(
                    bins.bin
                        .parent()
                        .map_or(bins.bin.clone(), |p| p.to_path_buf()),
                ),
                neon: Some(neon),
                containers: None,
            }
        }
    };
    ports::ensure_free(state.pg_port, "postgres", "--pg-port")?;
    ports::ensure_free(state.api_port, "workspace-api", "--api-port")?;
    if let Some(user) = postgres::RunAs::unprivileged()? {
        check_reachable(&dir.root, user)?;
    }
    // PostgreSQL refuses a socket path longer than sun_path (108 bytes with the NUL).
    let socket = dir
        .pg_socket_dir()
        .join(format!(".s.PGSQL.{}", state.pg_port));
    if socket.as_os_str().len() > 107 {
        bail!(
            "the state directory's path is too long for PostgreSQL's Unix socket ({} is {} \
             bytes, at most 107) — pass a shorter --state-dir",
            socket.display(),
            socket.as_os_str().len()
        );
    }
    dir.create()?;
    dir.secret("pg-password")?;
    dir.save(&state)?;
    Ok(state)
}

/// PostgreSQL runs as another account when we are root; every directory above its data must
/// let that account through.
fn check_reachable(root: &Path, user: postgres::RunAs) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    for dir in root.ancestors().skip(1) {
        let Ok(meta) = std::fs::metadata(dir) else {
            continue;
        };
        let mode = meta.mode();
        let ok = mode & 0o001 != 0
            || (meta.uid() == user.uid && mode & 0o100 != 0)
            || (meta.gid() == user.gid && mode & 0o010 != 0);
        if !ok {
            bail!(
                "PostgreSQL runs as uid {} (it refuses root) and cannot enter {} — pass --state-dir \
                 under a directory it can reach (for example /var/tmp/workspace-stack)",
                user.uid,
                dir.display()
            );
        }
    }
    Ok(())
}

pub async fn up(dir: &StateDir, args: UpArgs) -> anyhow::Result<i32> {
    if Lock::is_held(&dir.lock_file())? {
        let state = require_state(dir)?;
        let phase = wait_for_phase(dir, Duration::from_secs(args.timeout)).await?;
        if phase == Phase::Ready {
            println!("The stack is already running; nothing changed.");
            print_urls(dir, &state);
            return Ok(0);
        }
        bail!(
            "another `wsctl up` is starting the stack and it ended in {phase:?} — see `wsctl logs`"
        );
    }
    let state = match super::container_cmds::prepare(dir, &args)? {
        Some(state) => state,
        None => prepare(dir, &args)?,
    };
    if args.foreground {
        return foreground(dir, state).await;
    }
    let started = Instant::now();
    spawn_supervisor(dir)?;
    let phase = wait_for_phase(dir, Duration::from_secs(args.timeout)).await?;
    if phase != Phase::Ready {
        let status = dir.load_status();
        let why = status
            .and_then(|s| s.error)
            .unwrap_or_else(|| "unknown".into());
        bail!(
            "the stack did not start: {why}\n(supervisor log: {})",
            dir.log("supervisor").display()
        );
    }
    let report = crate::health::run(dir, &state).await;
    print!("{}", report.to_table());
    println!("Stack up in {:.1} s.", started.elapsed().as_secs_f64());
    print_urls(dir, &state);
    Ok(if report.passed() { 0 } else { 1 })
}

async fn foreground(dir: &StateDir, state: StackState) -> anyhow::Result<i32> {
    let sup = crate::stack::containers::supervise(dir.clone(), state.clone());
    let reporter = {
        let dir = dir.clone();
        tokio::spawn(async move {
            if wait_for_phase(&dir, Duration::from_secs(300)).await.ok() == Some(Phase::Ready) {
                let report = crate::health::run(&dir, &state).await;
                print!("{}", report.to_table());
                print_urls(&dir, &state);
                println!("Press Ctrl-C to stop.");
            }
        })
    };
    let result = sup.await;
    reporter.abort();
    result.map(|()| 0)
}

/// Starts `wsctl supervise` in its own session, detached from this terminal.
fn spawn_supervisor(dir: &StateDir) -> anyhow::Result<()> {
    let log = crate::stack::trust::open_log(&dir.log("supervisor"))?;
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.arg("--state-dir")
        .arg(&dir.root)
        .arg("supervise")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .env("LOG_FORMAT", "json");
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid is async-signal-safe; a new session outlives this terminal.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().context("starting the supervisor")?;
    Ok(())
}

/// Waits until status.json leaves the starting phase (or the supervisor dies).
async fn wait_for_phase(dir: &StateDir, timeout: Duration) -> anyhow::Result<Phase> {
    let deadline = Instant::now() + timeout;
    // The new supervisor needs a moment to take the lock and write its first status.
    let grace = Instant::now() + Duration::from_secs(5);
    loop {
        let status = dir.load_status();
        let phase = status.as_ref().map(|s| s.phase);
        let held = Lock::is_held(&dir.lock_file())?;
        match phase {
            Some(Phase::Ready) if held => return Ok(Phase::Ready),
            Some(Phase::Failed) => return Ok(Phase::Failed),
            _ if !held && Instant::now() > grace => return Ok(phase.unwrap_or(Phase::Failed)),
            _ => {}
        }
        if Instant::now() > deadline {
            bail!(
                "the stack was not healthy within {}s — see `wsctl logs`",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn supervise(dir: &StateDir) -> anyhow::Result<i32> {
    let state = require_state(dir)?;
    crate::telemetry::init(crate::config::LogFormat::Json);
    crate::stack::containers::supervise(dir.clone(), state).await?;
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

pub async fn init(dir: &StateDir, database_url: Option<String>) -> anyhow::Result<i32> {
    let (config, ours): (tokio_postgres::Config, bool) = match database_url {
        Some(url) => (
            url.parse()
                .context("--database-url is not a valid PostgreSQL connection string")?,
            false,
        ),
        None => match dir.load()? {
            Some(state) => (supervisor::pg_config(dir, &state, &state.database)?, true),
            None => {
                let args = crate::config::ApiArgs::default();
                let env = crate::config::Env::process();
                (crate::config::database_settings(&args, &env)?.config, false)
            }
        },
    };
    let mut client = if ours {
        crate::db::connect(&config).await?
    } else {
        crate::db::connect_user(&config).await?
    };
    let applied = crate::db::migrations::migrate(&mut client).await?;
    println!(
        "Schema at migration {} on {} ({} applied now).",
        crate::db::migrations::latest_version(),
        crate::db::describe(&config),
        applied.len()
    );
    Ok(0)
}

pub fn psql(dir: &StateDir, args: Vec<String>) -> anyhow::Result<i32> {
    let state = require_state(dir)?;
    let psql = match state.pg_bin.as_ref().map(|b| b.join("psql")) {
        Some(p) if p.is_file() => {
            crate::stack::trust::check(&p, "PostgreSQL program")?;
            p
        }
        _ => PathBuf::from("psql"),
    };
    // The private socket, not TCP (see supervisor::database_url); containers publish TCP only.
    let host = match state.containers {
        None if state.backend == BackendKind::Postgres => dir.pg_socket_dir().display().to_string(),
        _ => "127.0.0.1".to_string(),
    };
    // The password goes through the environment, never the command line.
    let status = std::process::Command::new(&psql)
        .args([
            "-h",
            &host,
            "-p",
            &state.pg_port.to_string(),
            "-U",
            &state.superuser,
            &state.database,
        ])
        .args(args)
        .env("PGPASSWORD", dir.read_secret("pg-password")?)
        .status()
        .with_context(|| format!("running {} — install PostgreSQL's client", psql.display()))?;
    Ok(status.code().unwrap_or(1))
}

pub fn url(dir: &StateDir, api: bool) -> anyhow::Result<i32> {
    let state = require_state(dir)?;
    if api {
        println!("http://127.0.0.1:{}", state.api_port);
    } else {
        println!("{}", supervisor::database_url(dir, &state)?);
    }
    Ok(0)
}

pub async fn test(dir: &StateDir, json: bool) -> anyhow::Result<i32> {
    let state = require_state(dir)?;
    let report = crate::health::run(dir, &state).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(if report.passed() { 0 } else { 1 })
}
