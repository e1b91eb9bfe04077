//! The state directory: one place for everything a stack owns.
//!
//! ```text
//! .workspace-stack/
//!   state.json          backend, ports, ids — no secrets (written atomically)
//!   state.lock          flock held by the one wsctl changing state.json (its pid, command)
//!   secrets/            0700; pg-password, upcall-token, neon-auth-key.pem (0600)
//!   supervisor.lock     flock held by the running supervisor; free = nothing running
//!   supervisor.pid
//!   status.json         written by the supervisor: phase, services, restarts
//!   health.json         the last health suite's checks (for the web console)
//!   logs/               0700; <service>.log (0600), one per service, appended across restarts
//!   postgres/           ours, 0755
//!     data/             0700, the database account's: the cluster (postgres backend)
//!     socket/           0700, the database account's: PostgreSQL's Unix socket
//! ```
//!
//! When wsctl runs as root, PostgreSQL runs as another account, and that account owns only
//! `postgres/data` and `postgres/socket` (and Neon's service directories). Everything root opens
//! or creates is in a directory only root can write, so nothing the database account plants
//! (a symlink, say) can redirect it; the services get their logs as open descriptors.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

pub use super::state_lock::StateLock;

pub const DEFAULT_DIR: &str = ".workspace-stack";
pub const CONFIG_FILE: &str = "workspace-stack.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Postgres,
    Neon,
}

/// What `up` decided once and later commands reuse: ports, ids, binaries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackState {
    pub version: u32,
    /// The stack's name (empty in state files of earlier versions: the directory's then).
    #[serde(default)]
    pub name: String,
    pub backend: BackendKind,
    pub pg_port: u16,
    pub api_port: u16,
    pub database: String,
    pub superuser: String,
    /// PostgreSQL's bin directory, when the postgres backend found one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_bin: Option<PathBuf>,
    /// Preview API instances, one per branch that asked for one (`branch create --api`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previews: Vec<Preview>,
    /// The branch the API serves (`None`: main).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_branch: Option<String>,
    /// Neon: the directory holding bin/ and pg_install/.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neon_dir: Option<PathBuf>,
    /// Neon: generated once so that `up` after `down` reattaches the same data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neon: Option<crate::stack::neon::NeonState>,
    /// Containers: the compose project this stack runs as (`up --containers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containers: Option<ContainerState>,
    /// The APIs' requests per client IP per window (`RATE_LIMIT_MAX`; 0: no limit), from
    /// `up --rate-limit-max` or workspace-stack.toml; kept so a later `up` keeps it. `None`:
    /// the API's own default (the original's 120), or whatever the environment says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_max: Option<u32>,
    /// The web console's port (`None`: `up --no-console`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_port: Option<u16>,
    /// Protection, expiry and history of branches and snapshots.
    #[serde(
        default,
        skip_serializing_if = "crate::branch::lifecycle::Lifecycle::is_empty"
    )]
    pub lifecycle: crate::branch::lifecycle::Lifecycle,
}

impl StackState {
    /// The data directories of every postmaster a native stack runs: the postgres backend's,
    /// or each Neon compute's pgdata. Containers run theirs inside the engine: none.
    pub fn postmaster_dirs(&self, dir: &StateDir) -> Vec<PathBuf> {
        if self.containers.is_some() {
            return Vec::new();
        }
        match &self.neon {
            None => vec![dir.pg_data()],
            Some(n) => n
                .endpoints(self.pg_port)
                .into_iter()
                .map(|ep| dir.root.join("neon").join(ep.service).join("pgdata"))
                .collect(),
        }
    }

    /// What the stack's API processes get in their environment on top of the rest.
    pub fn api_env(&self) -> Vec<(String, String)> {
        self.rate_limit_max
            .map(|n| ("RATE_LIMIT_MAX".to_string(), n.to_string()))
            .into_iter()
            .collect()
    }
}

/// A stack's directory and the paths inside it.
#[derive(Debug, Clone)]
pub struct StateDir {
    pub root: PathBuf,
}

/// A separate API instance serving one branch, on its own port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    pub branch: String,
    pub port: u16,
}

impl Preview {
    pub fn service(&self) -> String {
        format!("workspace-api-{}", self.branch)
    }
}

impl StackState {
    /// Where a branch's data is served: (database, port).
    pub fn branch_target(&self, branch: &str) -> (String, u16) {
        match &self.neon {
            Some(n) if branch != crate::branch::MAIN => (
                self.database.clone(),
                n.branches
                    .iter()
                    .find(|b| b.name == branch)
                    .map_or(self.pg_port, |b| b.pg_port),
            ),
            Some(_) => (self.database.clone(), self.pg_port),
            None => (
                crate::branch::branch_db(&self.database, branch),
                self.pg_port,
            ),
        }
    }

    /// The database the API serves: main's, or the active branch's.
    pub fn api_database(&self) -> String {
        if self.neon.is_some() {
            // On Neon a branch is a timeline with its own compute; the database name is the same.
            return self.database.clone();
        }
        crate::branch::branch_db(
            &self.database,
            self.active_branch.as_deref().unwrap_or(crate::branch::MAIN),
        )
    }

    /// The port of the PostgreSQL the API talks to: on Neon, the active branch's compute.
    pub fn api_pg_port(&self) -> u16 {
        match (&self.neon, &self.active_branch) {
            (Some(n), Some(b)) => n
                .branches
                .iter()
                .find(|x| &x.name == b)
                .map_or(self.pg_port, |x| x.pg_port),
            _ => self.pg_port,
        }
    }
}

impl StateDir {
    /// `--state-dir`, else `WSCTL_STATE_DIR`, else `.workspace-stack/` beside the config file
    /// found in the current directory or an ancestor, else in the current directory.
    ///
    /// An existing state directory must be trusted (ours or root's, not writable by others):
    /// a directory someone else made could hold their state.json and password.
    pub fn resolve(flag: Option<&Path>) -> anyhow::Result<Self> {
        let dir = Self::locate(flag)?;
        if dir.root.exists() {
            crate::stack::trust::check(&dir.root, "state directory")?;
        }
        Ok(dir)
    }

    fn locate(flag: Option<&Path>) -> anyhow::Result<Self> {
        if let Some(dir) = flag {
            return Ok(StateDir {
                root: absolute(dir)?,
            });
        }
        if let Some(dir) = std::env::var_os("WSCTL_STATE_DIR").filter(|v| !v.is_empty()) {
            return Ok(StateDir {
                root: absolute(Path::new(&dir))?,
            });
        }
        let cwd = std::env::current_dir()?;
        let base = cwd
            .ancestors()
            .find(|d| d.join(CONFIG_FILE).is_file())
            .unwrap_or(&cwd)
            .to_path_buf();
        Ok(StateDir {
            root: base.join(DEFAULT_DIR),
        })
    }

    pub fn create(&self) -> anyhow::Result<()> {
        fs::create_dir_all(&self.root)
            .with_context(|| format!("creating {}", self.root.display()))?;
        crate::stack::trust::check(&self.root, "state directory")?;
        // Earlier versions gave logs/ to the database account; what it may have put there
        // (symlinks to root's files) goes, with the old logs.
        if let Ok(meta) = fs::symlink_metadata(self.logs()) {
            use std::os::unix::fs::MetadataExt;
            // SAFETY: geteuid has no preconditions.
            if !meta.is_dir() || meta.uid() != unsafe { libc::geteuid() } {
                remove_entry(&self.logs())?;
            }
        }
        crate::stack::trust::own_dir(&self.logs(), 0o700, None)?;
        crate::stack::trust::own_dir(&self.secrets_dir(), 0o700, None)?;
        Ok(())
    }

    /// Entries `down --purge` may delete: what wsctl itself makes here. Anything else means
    /// the directory is not (only) a wsctl state directory.
    const KNOWN: &'static [&'static str] = &[
        "state.json",
        "state.lock",
        "status.json",
        "health.json",
        "supervisor.lock",
        "supervisor.pid",
        "logs",
        "secrets",
        "postgres",
        "neon",
        "imports",
        "backups",
        "containers",
        "bin",
    ];

    /// Refuses to let `down --purge` delete a directory that is not a wsctl state directory:
    /// it must hold a state.json (a corrupt one may be purged: that is how to start over) and
    /// nothing wsctl does not make.
    pub fn check_purgeable(&self) -> anyhow::Result<()> {
        if !fs::symlink_metadata(self.state_file()).is_ok_and(|m| m.is_file()) {
            bail!(
                "refusing to delete {}: it has no state.json, so it is not a wsctl state \
                 directory — check --state-dir / WSCTL_STATE_DIR, or delete it yourself",
                self.root.display()
            );
        }
        let mut unexpected = Vec::new();
        for entry in fs::read_dir(&self.root)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            // Temporary files of write_atomic and secret() start with a dot.
            if !Self::KNOWN.contains(&name.as_str()) && !name.starts_with('.') {
                unexpected.push(name);
            }
        }
        if !unexpected.is_empty() {
            unexpected.sort();
            bail!(
                "refusing to delete {}: besides the stack's files it holds {} — move those \
                 elsewhere first (or delete the directory yourself)",
                self.root.display(),
                unexpected.join(", ")
            );
        }
        Ok(())
    }
    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }
    pub fn status_file(&self) -> PathBuf {
        self.root.join("status.json")
    }
    /// The last health suite's report (`health::run` writes it).
    pub fn health_file(&self) -> PathBuf {
        self.root.join("health.json")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("supervisor.lock")
    }
    /// Held by whoever changes state.json (`stack::state_lock`), not by the supervisor.
    pub fn state_lock_file(&self) -> PathBuf {
        self.root.join("state.lock")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.root.join("supervisor.pid")
    }
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn log(&self, service: &str) -> PathBuf {
        self.logs().join(format!("{service}.log"))
    }
    pub fn secrets_dir(&self) -> PathBuf {
        self.root.join("secrets")
    }
    pub fn pg_dir(&self) -> PathBuf {
        self.root.join("postgres")
    }
    pub fn pg_data(&self) -> PathBuf {
        self.pg_dir().join("data")
    }
    /// PostgreSQL's `unix_socket_directories`: 0700 and the database account's, so only the
    /// stack's accounts can reach the socket (nobody else can listen in its place).
    pub fn pg_socket_dir(&self) -> PathBuf {
        self.pg_dir().join("socket")
    }

    pub fn load(&self) -> anyhow::Result<Option<StackState>> {
        let path = self.state_file();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        serde_json::from_str(&text).map(Some).with_context(|| {
            format!(
                "{} is corrupt — fix or delete it (`wsctl down --purge` starts over; the data \
                 directory next to it is kept unless purged)",
                path.display()
            )
        })
    }

    /// Waits until no other wsctl changes this stack's state.json, then holds that off until
    /// the lock is dropped. Load state.json after this: what was read before may be stale.
    pub fn lock_state(&self) -> anyhow::Result<StateLock> {
        StateLock::acquire(&self.state_lock_file(), &self.describe())
    }

    /// [`StateDir::lock_state`] for async callers.
    pub async fn lock_state_async(&self) -> anyhow::Result<StateLock> {
        StateLock::acquire_async(&self.state_lock_file(), &self.describe()).await
    }

    fn describe(&self) -> String {
        format!("the stack in {}", self.root.display())
    }

    /// Replaces state.json. Only the holder of its lock writes it: `lock` proves this process
    /// holds it (a change made without would be lost to a concurrent writer).
    pub fn save(&self, state: &StackState, lock: &StateLock) -> anyhow::Result<()> {
        if lock.path() != self.state_lock_file() {
            bail!(
                "internal error: saving {} under the lock of {}",
                self.state_file().display(),
                lock.path().display()
            );
        }
        write_atomic(
            &self.state_file(),
            &serde_json::to_vec_pretty(state)?,
            0o644,
        )
    }

    /// A small change to the stack's state.json as it is now: locks, loads, applies `f`,
    /// saves, unlocks. Not for a process that already holds the lock (flock would wait for
    /// itself): that one saves with its own.
    pub fn update<T>(
        &self,
        f: impl FnOnce(&mut StackState) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let lock = self.lock_state()?;
        let mut state = self.load()?.with_context(|| {
            format!(
                "no stack in {} — run `wsctl up` first (or pass --state-dir)",
                self.root.display()
            )
        })?;
        let out = f(&mut state)?;
        self.save(&state, &lock)?;
        Ok(out)
    }

    /// A secret by name, generated on first use and stored 0600. Two concurrent `up`s must
    /// agree on it: the new value is written to a temporary file and linked into place, which
    /// fails if another process got there first; then the winner's value is used.
    pub fn secret(&self, name: &str) -> anyhow::Result<String> {
        let path = self.secrets_dir().join(name);
        if let Ok(s) = fs::read_to_string(&path) {
            if !s.trim().is_empty() {
                return Ok(s.trim().to_string());
            }
        }
        let value = crate::stack::postgres::generate_password();
        let tmp = self
            .secrets_dir()
            .join(format!(".{name}.{}", std::process::id()));
        write_atomic(&tmp, value.as_bytes(), 0o600)?;
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(value),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => self.read_secret(name),
            Err(e) => Err(e).with_context(|| format!("writing {}", path.display())),
        }
    }

    pub fn read_secret(&self, name: &str) -> anyhow::Result<String> {
        let path = self.secrets_dir().join(name);
        fs::read_to_string(&path)
            .map(|s| s.trim().to_string())
            .with_context(|| {
                format!(
                    "reading {} — was the stack ever started here?",
                    path.display()
                )
            })
    }
}

/// Removes a file, symlink or directory tree without following symlinks.
fn remove_entry(path: &Path) -> anyhow::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
    .with_context(|| format!("removing {}", path.display()))
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    })
}

/// Write to a temporary file, fsync, rename: readers see the old or the new file, never half.
/// Creates (or truncates) a file only its owner can read: backups, reports and id maps hold
/// the users' data.
pub fn create_private(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = path.parent().context("path has no parent")?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        std::process::id()
    ));
    // A fresh file, never through a symlink: some of these directories belong to a service's
    // account (Neon's pageserver directory), which must not choose what root writes.
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// The supervisor's exclusive lock. Held for the supervisor's lifetime; the kernel releases
/// it when the process dies, however it dies, so a stale lock cannot exist.
pub struct Lock {
    _file: fs::File,
}

impl Lock {
    /// `Ok(None)` when another process holds it.
    pub fn try_acquire(path: &Path) -> anyhow::Result<Option<Lock>> {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a file descriptor we own.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(Some(Lock { _file: file }));
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Ok(None)
        } else {
            bail!("locking {}: {err}", path.display())
        }
    }

    /// Whether some process holds the lock right now.
    pub fn is_held(path: &Path) -> anyhow::Result<bool> {
        if !path.exists() {
            return Ok(false);
        }
        Ok(Self::try_acquire(path)?.is_none())
    }
}

/// The supervisor's view of the stack, for `status`, `up` (waiting) and the health suite.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub phase: Phase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub supervisor_pid: u32,
    pub services: Vec<ServiceStatus>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    #[default]
    Starting,
    Ready,
    Failed,
    Stopping,
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub name: String,
    pub pid: Option<u32>,
    pub restarts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<String>,
    pub log: PathBuf,
    /// Since when the service has been down or restarting (cleared once its new process
    /// has stayed up); `wsctl status` reports the stack degraded meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_since: Option<chrono::DateTime<chrono::Utc>>,
}

impl StateDir {
    pub fn load_status(&self) -> Option<Status> {
        fs::read(self.status_file())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    pub fn save_status(&self, status: &Status) -> anyhow::Result<()> {
        write_atomic(
            &self.status_file(),
            &serde_json::to_vec_pretty(status)?,
            0o644,
        )
    }
}

/// What `up --containers` decided: kept in state.json so later commands use the same engine
/// and project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerState {
    /// The compose command, e.g. `["docker-compose"]` or `["docker", "compose"]`.
    pub compose: Vec<String>,
    /// The engine's own CLI (`docker` or `podman`), for `inspect` and `image inspect`.
    pub engine: String,
    /// The compose project name, derived from the state directory.
    pub project: String,
}

/// A command needs the stack running, and it is not. One message for every command; front
/// ends exit with `engine::NOT_RUNNING_EXIT` on it.
#[derive(Debug)]
pub struct NotRunning {
    pub dir: PathBuf,
}

impl std::fmt::Display for NotRunning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the stack in {} is not running — `wsctl up`",
            self.dir.display()
        )
    }
}

impl std::error::Error for NotRunning {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secrets_are_generated_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir {
            root: dir.path().join("st"),
        };
        s.create().unwrap();
        let a = s.secret("pg-password").unwrap();
        assert_eq!(a, s.secret("pg-password").unwrap());
        let mode = fs::metadata(s.secrets_dir().join("pg-password"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn corrupt_state_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir {
            root: dir.path().to_path_buf(),
        };
        fs::write(s.state_file(), "{not json").unwrap();
        let err = format!("{:#}", s.load().unwrap_err());
        assert!(
            err.contains("state.json is corrupt") && err.contains("--purge"),
            "{err}"
        );
    }

    #[test]
    fn state_files_from_before_lifecycle_still_load_and_round_trip() {
        let old = r#"{"version": 1, "backend": "postgres", "pg_port": 5433, "api_port": 3200,
                      "database": "workspace", "superuser": "postgres"}"#;
        let mut s: StackState = serde_json::from_str(old).unwrap();
        assert!(s.lifecycle.is_empty());
        // Nothing new is written while nothing was set: older binaries can still read it.
        assert!(!serde_json::to_string(&s).unwrap().contains("lifecycle"));
        s.lifecycle
            .record(crate::branch::Kind::Branch, "b", "created", None);
        let again: StackState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn lock_is_exclusive_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let held = Lock::try_acquire(&path).unwrap().unwrap();
        assert!(Lock::is_held(&path).unwrap());
        drop(held);
        assert!(!Lock::is_held(&path).unwrap());
    }
}
