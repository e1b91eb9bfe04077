//! What `wsctl up` decides before anything runs: the stack's settings from flags, the
//! optional `workspace-stack.toml` and the previous run, in that order.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Deserialize;

use super::require_state;
use crate::health;
use crate::runtime::{
    self,
    lifecycle::{self, wait_for_phase},
    plan::{NeonPlacement, Plan},
};
use crate::stack::state::{BackendKind, Lock, Phase, StackState, StateDir, CONFIG_FILE};

/// `workspace-stack.toml`: optional defaults; flags win over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The stack's name [default: the project directory's].
    pub name: Option<String>,
    pub backend: Option<BackendKind>,
    pub pg_port: Option<u16>,
    pub api_port: Option<u16>,
    pub pg_bin: Option<PathBuf>,
    /// The APIs' requests per client IP per minute; 0 turns the limit off.
    pub rate_limit_max: Option<u32>,
    pub console_port: Option<u16>,
    /// How many automatic snapshots to keep (the newest; default 10).
    pub snapshot_retention: Option<usize>,
    /// `"auto"`: free ports, picked once (see `runtime::plan::auto_ports`).
    pub ports: Option<String>,
}

impl FileConfig {
    /// `ports = "auto"`; any other value is refused rather than ignored.
    pub fn ports_auto(&self) -> anyhow::Result<bool> {
        match self.ports.as_deref() {
            None => Ok(false),
            Some("auto") => Ok(true),
            Some(other) => bail!(
                "ports = {other:?} in {CONFIG_FILE} is not understood: the only value is \"auto\" \
                 (fixed ports go in pg_port and api_port)"
            ),
        }
    }
}

/// --pg-port/--api-port, else workspace-stack.toml, else the last run's, else 5433 and 3200
/// (or, with `auto`, free ports picked now and kept in state.json from then on).
pub fn chosen_ports(
    flags: (Option<u16>, Option<u16>),
    file: &FileConfig,
    previous: Option<&StackState>,
    auto: bool,
) -> anyhow::Result<(u16, u16)> {
    let pg = flags.0.or(file.pg_port).or(previous.map(|p| p.pg_port));
    let api = flags.1.or(file.api_port).or(previous.map(|p| p.api_port));
    if auto {
        return crate::runtime::plan::auto_ports(pg, api);
    }
    Ok((pg.unwrap_or(5433), api.unwrap_or(3200)))
}

pub fn file_config(dir: &StateDir) -> anyhow::Result<FileConfig> {
    let Some(path) = dir.root.parent().map(|p| p.join(CONFIG_FILE)) else {
        return Ok(FileConfig::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            // It can name the programs wsctl runs (pg_bin): another account's file must not.
            crate::stack::trust::check(&path, "config file")?;
            toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileConfig::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// What `wsctl up` was asked for, before it is merged with the file and the previous run.
#[derive(Debug, Default)]
pub struct UpOptions {
    pub pg_port: Option<u16>,
    pub api_port: Option<u16>,
    pub backend: Option<BackendKind>,
    pub pg_bin: Option<PathBuf>,
    pub safekeepers: Option<u8>,
    pub neon_dir: Option<PathBuf>,
    pub placement: NeonPlacement,
    pub containers: bool,
    pub rate_limit_max: Option<u32>,
    /// `--ports auto`.
    pub ports_auto: bool,
}

/// Flags, then workspace-stack.toml, then what this stack used before, then defaults. A
/// process stack's data cannot move into containers.
pub fn plan(dir: &StateDir, opts: &UpOptions) -> anyhow::Result<Plan> {
    let previous = dir.load()?;
    let was_containers = previous.as_ref().is_some_and(|p| p.containers.is_some());
    let containers = opts.containers || was_containers;
    if let (true, Some(p), false) = (containers, &previous, was_containers) {
        bail!(
            "{} holds a stack of local processes ({} backend); its data cannot move into \
             containers — `wsctl down --purge` it first, or pass another --state-dir",
            dir.root.display(),
            format!("{:?}", p.backend).to_lowercase()
        );
    }
    let file = file_config(dir)?;
    let backend = opts
        .backend
        .or(file.backend)
        .or(previous.as_ref().map(|p| p.backend))
        .unwrap_or(BackendKind::Postgres);
    let ports_auto = opts.ports_auto || file.ports_auto()?;
    let (pg_port, api_port) = chosen_ports(
        (opts.pg_port, opts.api_port),
        &file,
        previous.as_ref(),
        ports_auto,
    )?;
    let pg_bin = opts
        .pg_bin
        .clone()
        .or_else(|| std::env::var_os("WSCTL_PG_BIN").map(PathBuf::from))
        .or(file.pg_bin);
    let neon_dir = opts
        .neon_dir
        .clone()
        .or(previous.as_ref().and_then(|p| p.neon_dir.clone()));
    let rate_limit_max = opts
        .rate_limit_max
        .or(file.rate_limit_max)
        .or(previous.as_ref().and_then(|p| p.rate_limit_max));
    Ok(Plan {
        name: crate::runtime::plan::stack_name(dir, file.name.clone(), previous.as_ref()),
        previous,
        backend,
        pg_port,
        api_port,
        containers,
        pg_bin,
        neon_dir,
        safekeepers: opts.safekeepers,
        ports_auto,
        placement: opts.placement.clone(),
        rate_limit_max,
    })
}

/// The flags given to `up` that a running stack does not have, as `--flag VALUE (running:
/// VALUE)`. Flags not given never differ.
pub fn differences(opts: &UpOptions, state: &StackState) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |flag: &str, wanted: Option<String>, running: String| {
        if let Some(w) = wanted.filter(|w| *w != running) {
            out.push(format!("{flag} {w} (running: {running})"));
        }
    };
    let lower = |b: BackendKind| format!("{b:?}").to_lowercase();
    check(
        "--pg-port",
        opts.pg_port.map(|p| p.to_string()),
        state.pg_port.to_string(),
    );
    check(
        "--api-port",
        opts.api_port.map(|p| p.to_string()),
        state.api_port.to_string(),
    );
    check("--backend", opts.backend.map(lower), lower(state.backend));
    if let Some(n) = &state.neon {
        check(
            "--safekeepers",
            opts.safekeepers.map(|k| k.to_string()),
            n.safekeepers.to_string(),
        );
    }
    if opts.containers && state.containers.is_none() {
        out.push("--containers (running: local processes)".into());
    }
    out
}

/// Where `up` stands before the stack starts.
pub enum Prepared {
    /// Another `up` (or an earlier one) runs it, and it is ready: nothing changed.
    AlreadyRunning(StackState),
    /// state.json (and a compose project's files) are written; nothing runs yet.
    New(StackState),
}

/// Waits out a stack that is already starting, or plans this run and has its runtime
/// prepare it.
pub async fn prepare(
    dir: &StateDir,
    opts: &UpOptions,
    timeout: Duration,
) -> anyhow::Result<Prepared> {
    if Lock::is_held(&dir.lock_file())? {
        let state = require_state(dir)?;
        let phase = wait_for_phase(dir, timeout).await?;
        if phase == Phase::Ready {
            let differs = differences(opts, &state);
            if !differs.is_empty() {
                bail!(
                    "the stack in {} is already running with other settings: {} — `wsctl down` \
                     first, then `wsctl up` with the new ones",
                    dir.root.display(),
                    differs.join(", ")
                );
            }
            return Ok(Prepared::AlreadyRunning(state));
        }
        bail!(
            "another `wsctl up` is starting the stack and it ended in {phase:?} — see `wsctl logs`"
        );
    }
    // Held from reading the previous run's state.json to writing the new one. A directory
    // that does not exist yet has no state to lose; `plan::save` locks once it made it.
    let lock = match dir.root.is_dir() {
        true => Some(dir.lock_state_async().await?),
        false => None,
    };
    let plan = plan(dir, opts)?;
    let state = if plan.containers {
        runtime::compose::prepare(dir, &plan, lock.as_ref())?
    } else {
        runtime::native::prepare(dir, &plan, lock.as_ref())?
    };
    drop(lock);
    // The registry only feeds `wsctl ls` and `down --all`: a home directory that cannot take
    // it must not keep the stack from starting.
    let _ = super::registry::record(&dir.root);
    Ok(Prepared::New(state))
}

/// A stack started in the background, with the health suite's first run.
pub struct Started {
    pub report: health::Report,
    pub took: Duration,
}

/// Starts the supervisor detached, waits until the stack is ready, runs the health suite.
/// A start that fails or times out leaves nothing running.
pub async fn detached(
    dir: &StateDir,
    state: &StackState,
    timeout: Duration,
) -> anyhow::Result<Started> {
    let started = Instant::now();
    // A status.json left `ready` by a supervisor killed with -9 would read as the new one's
    // until it writes its own (nobody holds the lock here: `prepare` checked).
    let _ = std::fs::remove_file(dir.status_file());
    let mut child = lifecycle::spawn_supervisor(dir)?;
    match lifecycle::wait_for_supervisor(dir, &mut child, timeout).await? {
        lifecycle::Started::Ready => {}
        lifecycle::Started::Failed(why) => bail!(
            "the stack did not start: {why}\n(supervisor log: {})",
            dir.log("supervisor").display()
        ),
        lifecycle::Started::TimedOut => {
            lifecycle::stop_started(&mut child).await?;
            bail!(
                "the stack was not healthy within {}s; stopped what this `up` started — \
                 pass a longer --timeout, or see `wsctl logs`",
                timeout.as_secs()
            );
        }
    }
    let report = health::run(dir, state).await;
    Ok(Started {
        report,
        took: started.elapsed(),
    })
}

/// Runs the stack in this process until Ctrl-C; `on_ready` gets the health suite's report
/// once the stack is ready, and `on_line` every line the services (and the supervisor, whose
/// log is written as a detached one's) log meanwhile.
pub async fn foreground(
    dir: &StateDir,
    state: StackState,
    on_ready: impl FnOnce(&StateDir, &StackState, health::Report) + Send + 'static,
    on_line: impl Fn(usize, &str, &str) + Send + 'static,
) -> anyhow::Result<()> {
    crate::telemetry::init_json_to(crate::stack::trust::open_log(&dir.log("supervisor"))?);
    let streamer = {
        let logs_dir = dir.logs();
        let mut logs = crate::runtime::log_lines::LogFiles::from_now(&logs_dir, Default::default());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let lines = logs.poll_dir(&logs_dir).unwrap_or_default();
                let width = logs.width().max(14);
                for (name, line) in lines {
                    on_line(width, &name, &line);
                }
            }
        })
    };
    let sup = lifecycle::supervise(dir, state.clone());
    let reporter = {
        let dir = dir.clone();
        tokio::spawn(async move {
            if wait_for_phase(&dir, Duration::from_secs(300)).await.ok() == Some(Phase::Ready) {
                let report = health::run(&dir, &state).await;
                on_ready(&dir, &state, report);
            }
        })
    };
    let result = sup.await;
    reporter.abort();
    streamer.abort();
    result
}
