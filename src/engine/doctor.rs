//! `wsctl doctor`: what stands in the way of a stack in a state directory, each finding with
//! its fix. `--fix` repairs only what cannot lose anything: files a dead process left behind
//! (a pid file, a half-written state file, a stale status.json), a postmaster of this data
//! directory running without its supervisor, and a data directory others can read.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::db::migrations::{self, SchemaState};
use crate::stack::state::{BackendKind, Lock, StackState, StateDir};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Warning,
    Error,
}

/// One thing doctor looked at.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub severity: Severity,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// `--fix` can repair it.
    pub fixable: bool,
    /// `--fix` repaired it.
    pub fixed: bool,
    #[serde(skip)]
    repair: Option<Repair>,
}

/// What `--fix` may do.
#[derive(Debug, Clone)]
enum Repair {
    RemoveFile(std::path::PathBuf),
    StopPostmaster(u32),
    Chmod700(std::path::PathBuf),
}

impl Finding {
    fn ok(check: &'static str, message: impl Into<String>) -> Self {
        Finding {
            check,
            severity: Severity::Ok,
            message: message.into(),
            fix: None,
            fixable: false,
            fixed: false,
            repair: None,
        }
    }

    fn problem(check: &'static str, severity: Severity, message: String, fix: String) -> Self {
        Finding {
            severity,
            message,
            fix: Some(fix),
            ..Finding::ok(check, "")
        }
    }

    fn repairable(mut self, repair: Repair) -> Self {
        self.fixable = true;
        self.repair = Some(repair);
        self
    }
}

/// Everything doctor found, in the order it looked.
#[derive(Debug, Serialize)]
pub struct Report {
    pub state_dir: String,
    pub running: bool,
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether anything is wrong that `--fix` did not repair.
    pub fn has_errors(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == Severity::Error && !f.fixed)
    }
}

/// Runs every check; with `fix`, repairs what is safe and says so in the finding.
pub async fn run(dir: &StateDir, fix: bool) -> Report {
    let running = Lock::is_held(&dir.lock_file()).unwrap_or(false);
    let mut findings = Vec::new();
    let state = state_file(dir, &mut findings);
    leftovers(dir, running, &mut findings);
    findings.push(disk_space(&dir.root));
    if let Some(state) = &state {
        if !running {
            findings.extend(postmaster_left_behind(dir, state));
            findings.extend(ports_held(state));
        }
        findings.extend(data_directory(dir, state));
        findings.extend(binaries(state));
        findings.extend(containers(state));
        if running {
            findings.extend(services(dir, state).await);
        }
    }
    if fix {
        for f in &mut findings {
            if let Some(r) = f.repair.take() {
                match repair(&r).await {
                    Ok(()) => f.fixed = true,
                    Err(e) => {
                        f.fix = Some(format!(
                            "{} (--fix failed: {e:#})",
                            f.fix.clone().unwrap_or_default()
                        ))
                    }
                }
            }
        }
    }
    Report {
        state_dir: dir.root.display().to_string(),
        running,
        findings,
    }
}

async fn repair(r: &Repair) -> anyhow::Result<()> {
    match r {
        Repair::RemoveFile(p) => Ok(std::fs::remove_file(p)?),
        Repair::Chmod700(p) => Ok(std::fs::set_permissions(
            p,
            std::fs::Permissions::from_mode(0o700),
        )?),
        Repair::StopPostmaster(pid) => {
            // SIGINT is PostgreSQL's fast shutdown: sessions end, data is flushed.
            crate::stack::process::signal(*pid, libc::SIGINT);
            if crate::stack::process::wait_gone(*pid, Duration::from_secs(30)) {
                Ok(())
            } else {
                anyhow::bail!("postmaster {pid} is still running after 30 s")
            }
        }
    }
}

fn state_file(dir: &StateDir, out: &mut Vec<Finding>) -> Option<StackState> {
    match dir.load() {
        Ok(Some(s)) => {
            out.push(Finding::ok("state", "state.json is readable"));
            Some(s)
        }
        Ok(None) => {
            out.push(Finding::problem(
                "state",
                Severity::Warning,
                format!("no stack in {} (no state.json)", dir.root.display()),
                "`wsctl up` creates one, or pass --state-dir".into(),
            ));
            None
        }
        Err(e) => {
            out.push(Finding::problem(
                "state",
                Severity::Error,
                format!("{e:#}"),
                "restore state.json, or `wsctl down --purge --yes` to start over".into(),
            ));
            None
        }
    }
}

/// Files a dead process left: a pid file, status.json of a supervisor that is gone, and the
/// temporary files of an atomic write that never got renamed.
fn leftovers(dir: &StateDir, running: bool, out: &mut Vec<Finding>) {
    let stale = |path: &Path, what: &str| {
        Finding::problem(
            "leftovers",
            Severity::Warning,
            format!(
                "{what} {} is left from a supervisor that is gone",
                path.display()
            ),
            "`wsctl doctor --fix` removes it".into(),
        )
        .repairable(Repair::RemoveFile(path.to_path_buf()))
    };
    if !running && dir.pid_file().exists() {
        out.push(stale(&dir.pid_file(), "pid file"));
    }
    let status = dir.status_file();
    if status.exists() {
        let readable = std::fs::read(&status)
            .ok()
            .and_then(|b| serde_json::from_slice::<crate::stack::state::Status>(&b).ok());
        match readable {
            None => out.push(
                Finding::problem(
                    "leftovers",
                    Severity::Warning,
                    format!("{} is corrupt or half-written", status.display()),
                    "`wsctl doctor --fix` removes it (the supervisor writes it again)".into(),
                )
                .repairable(Repair::RemoveFile(status)),
            ),
            Some(s)
                if !running
                    && matches!(
                        s.phase,
                        crate::stack::state::Phase::Ready | crate::stack::state::Phase::Starting
                    ) =>
            {
                out.push(stale(&status, "status file"));
            }
            Some(_) => {}
        }
    }
    for entry in std::fs::read_dir(&dir.root).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // write_atomic's temporary files: `.state.json.tmp<pid>`.
        let Some(pid) = name
            .rsplit_once(".tmp")
            .filter(|(head, _)| head.starts_with('.'))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !crate::stack::process::alive(pid) {
            out.push(
                Finding::problem(
                    "leftovers",
                    Severity::Warning,
                    format!(
                        "{} is half-written (process {pid} died while saving)",
                        entry.path().display()
                    ),
                    "`wsctl doctor --fix` removes it; the file it was to replace is intact".into(),
                )
                .repairable(Repair::RemoveFile(entry.path())),
            );
        }
    }
}

fn disk_space(path: &Path) -> Finding {
    let probe = if path.exists() {
        path
    } else {
        path.parent().unwrap_or(path)
    };
    let Ok(c) = std::ffi::CString::new(probe.as_os_str().as_encoded_bytes()) else {
        return Finding::ok("disk", "not checked");
    };
    // SAFETY: statvfs writes into the struct we pass; the path is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Finding::ok("disk", "free space could not be read");
    }
    let free = st.f_bavail as u64 * st.f_frsize as u64;
    let mib = free / (1024 * 1024);
    let severity = if mib < 256 {
        Severity::Error
    } else if mib < 1024 {
        Severity::Warning
    } else {
        return Finding::ok("disk", format!("{mib} MiB free on {}", probe.display()));
    };
    Finding::problem(
        "disk",
        severity,
        format!("only {mib} MiB free on the file system of {}", probe.display()),
        "free space there (old backups/ and imports/ in the state directory, old snapshots: `wsctl snapshot prune`)".into(),
    )
}

fn postmaster_left_behind(dir: &StateDir, state: &StackState) -> Vec<Finding> {
    let mut out = Vec::new();
    for data in state.postmaster_dirs(dir) {
        let Some(owner) = std::fs::metadata(&data).ok().map(|m| m.uid()) else {
            continue;
        };
        // Only a process that is provably this data directory's postmaster (see process.rs).
        let Some(pid) = crate::stack::process::postmaster_pid(&data, owner) else {
            continue;
        };
        out.push(
            Finding::problem(
                "postmaster",
                Severity::Error,
                format!("a PostgreSQL (pid {pid}) of {} runs without a supervisor", data.display()),
                format!("`wsctl doctor --fix` stops it (fast shutdown, data is kept), then `wsctl up`; or `kill -INT {pid}`"),
            )
            .repairable(Repair::StopPostmaster(pid)),
        );
    }
    out
}

fn ports_held(state: &StackState) -> Vec<Finding> {
    let mut wanted = vec![
        (state.pg_port, "postgres".to_string(), "--pg-port"),
        (state.api_port, "workspace-api".to_string(), "--api-port"),
    ];
    if let Some(n) = &state.neon {
        wanted.extend(
            n.ports()
                .into_iter()
                .map(|(p, s)| (p, s, "WSCTL_NEON_PORTS=auto")),
        );
    }
    let mut out = Vec::new();
    for (port, service, flag) in wanted {
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            continue;
        }
        let holder = match crate::stack::ports::owner(port) {
            Some((pid, name)) => format!("pid {pid} ({name})"),
            None => "another process".into(),
        };
        out.push(Finding::problem(
            "ports",
            Severity::Error,
            format!("port {port} (wanted by {service}) is in use by {holder}"),
            format!("stop that process, or pass {flag} to `wsctl up` to choose another port"),
        ));
    }
    if out.is_empty() {
        out.push(Finding::ok("ports", "the stack's ports are free"));
    }
    out
}

fn data_directory(dir: &StateDir, state: &StackState) -> Option<Finding> {
    if state.backend != BackendKind::Postgres || state.containers.is_some() {
        return None;
    }
    let data = dir.pg_data();
    let meta = std::fs::metadata(&data).ok()?;
    let mode = meta.permissions().mode() & 0o777;
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid == 0 && meta.uid() == 0 {
        return Some(Finding::problem(
            "data directory",
            Severity::Error,
            format!("{} belongs to root; PostgreSQL refuses to run as root", data.display()),
            "give it to the database account: `chown -R postgres: <dir>` (or `wsctl down --purge --yes` to start over)".into(),
        ));
    }
    if euid != 0 && meta.uid() != euid {
        return Some(Finding::problem(
            "data directory",
            Severity::Error,
            format!(
                "{} belongs to {}, not to you",
                data.display(),
                crate::stack::trust::describe_uid(meta.uid())
            ),
            "run wsctl as that account, or give the directory to yours (`chown -R`)".into(),
        ));
    }
    if mode & 0o077 != 0 {
        return Some(
            Finding::problem(
                "data directory",
                Severity::Error,
                format!(
                    "{} has mode {mode:o}; PostgreSQL refuses a data directory others can read",
                    data.display()
                ),
                "`wsctl doctor --fix` sets it to 700".into(),
            )
            .repairable(Repair::Chmod700(data)),
        );
    }
    Some(Finding::ok(
        "data directory",
        format!("{} has the right owner and mode", data.display()),
    ))
}

fn binaries(state: &StackState) -> Option<Finding> {
    if state.containers.is_some() {
        return None;
    }
    let found = match state.backend {
        BackendKind::Postgres => crate::stack::postgres::PgBinaries::discover(state.pg_bin.as_deref()).and_then(|b| {
            let missing: Vec<&str> = ["initdb", "postgres", "pg_dump"]
                .into_iter()
                .filter(|t| !b.tool(t).is_file())
                .collect();
            if missing.is_empty() {
                Ok(format!("PostgreSQL in {}", b.bindir.display()))
            } else {
                anyhow::bail!("{} has no {} — install the PostgreSQL server and client packages, or pass --pg-bin", b.bindir.display(), missing.join(", "))
            }
        }),
        BackendKind::Neon => crate::stack::neon::NeonBinaries::discover(state.neon_dir.as_deref())
            .map(|_| "Neon's binaries are complete".to_string()),
    };
    Some(match found {
        Ok(m) => Finding::ok("binaries", m),
        Err(e) => Finding::problem(
            "binaries",
            Severity::Error,
            format!("{e:#}"),
            "install them or point wsctl at them (--pg-bin / --neon-dir)".into(),
        ),
    })
}

fn containers(state: &StackState) -> Vec<Finding> {
    let Some(c) = &state.containers else {
        return Vec::new();
    };
    if let Err(e) = crate::stack::containers::detect(c.project.clone()) {
        return vec![Finding::problem(
            "containers",
            Severity::Error,
            format!("{e:#}"),
            "start the container engine, then `wsctl up`".into(),
        )];
    }
    let missing = c.missing_images(&crate::stack::containers::images_for(state.backend));
    if missing.is_empty() {
        return vec![Finding::ok(
            "containers",
            format!("{} answers and has the images", c.engine),
        )];
    }
    vec![Finding::problem(
        "containers",
        Severity::Error,
        format!("{} has no image {}", c.engine, missing.join(", ")),
        "build or load them (see compose/README.md: `nix build .#images` and `docker load`)".into(),
    )]
}

/// The running stack: the database answers, its schema matches this binary, the API is
/// healthy.
async fn services(dir: &StateDir, state: &StackState) -> Vec<Finding> {
    let mut out = Vec::new();
    let db = async {
        let config = crate::stack::connection::pg_config(dir, state, &state.database)?;
        let client = crate::db::connect(&config).await?;
        migrations::state(&client).await
    }
    .await;
    let db_ok = db.is_ok();
    out.push(match db {
        Ok(SchemaState::Current) => Finding::ok("schema", "the database answers; its schema is current"),
        Ok(SchemaState::Behind { applied, latest }) => Finding::problem("schema", Severity::Warning, format!("the schema is behind this wsctl (version {applied}, latest {latest})"), "`wsctl migrate` applies the rest (with a snapshot first)".into()),
        Ok(SchemaState::Ahead { applied, latest }) => Finding::problem("schema", Severity::Error, format!("the schema is ahead of this wsctl (version {applied}; this binary knows up to {latest})"), "use the newer wsctl that migrated it, or `wsctl rollback` to a snapshot from before".into()),
        Err(e) => Finding::problem("database", Severity::Error, format!("the database does not answer on port {}: {e:#}", state.pg_port), "see `wsctl logs postgres`; `wsctl down && wsctl up` restarts it".into()),
    });
    let url = format!("http://127.0.0.1:{}/health", state.api_port);
    let healthy = match reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    {
        Ok(http) => http
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success()),
        Err(_) => false,
    };
    out.push(if healthy {
        Finding::ok("api", format!("the API answers on port {}", state.api_port))
    } else {
        let also = if db_ok {
            " while the database is healthy"
        } else {
            ""
        };
        Finding::problem(
            "api",
            Severity::Error,
            format!("the API on port {} is not healthy{also}", state.api_port),
            "see `wsctl logs workspace-api`; `wsctl down && wsctl up` restarts it".into(),
        )
    });
    out
}
