//! Starting and stopping service processes.
//!
//! Every child appends stdout and stderr to its own log, and gets a parent-death signal: if
//! the supervisor is killed (even with SIGKILL), the kernel stops its children too, so nothing
//! is left behind holding ports or data directories.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::process::{Child, Command};

use super::user::RunAs;

/// What it takes to run one service.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    pub run_as: Option<RunAs>,
    pub log: PathBuf,
    /// The signal that asks this service for a clean, quick stop.
    pub stop_signal: i32,
    /// Signal sent to the child if the supervisor dies.
    pub death_signal: i32,
}

impl ServiceSpec {
    pub fn spawn(&self) -> anyhow::Result<Child> {
        // The log is opened here, by us, in a directory only we can write; the child gets the
        // descriptor, so the account it runs as never needs (or gets) access to logs/.
        let log = super::trust::open_log(&self.log)?;
        let mut std_cmd = std::process::Command::new(&self.program);
        std_cmd
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(cwd) = &self.cwd {
            std_cmd.current_dir(cwd);
        }
        if let Some(user) = self.run_as {
            user.apply(&mut std_cmd);
        }
        let signal = self.death_signal;
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe. It runs after the uid change (which would clear
        // the setting), so it sticks.
        unsafe {
            std_cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut cmd = Command::from(std_cmd);
        cmd.kill_on_drop(false);
        cmd.spawn().with_context(|| {
            format!(
                "starting {} ({}) — see {}",
                self.name,
                self.program.display(),
                self.log.display()
            )
        })
    }
}

pub fn signal(pid: u32, sig: i32) -> bool {
    // SAFETY: kill with a pid we recorded; at worst it fails with ESRCH.
    unsafe { libc::kill(pid as i32, sig) == 0 }
}

pub fn alive(pid: u32) -> bool {
    // Signal 0 checks existence; a zombie still counts, so look at /proc state too.
    if !signal(pid, 0) {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// Sends `sig`, waits up to `grace` for the child to exit, then SIGKILLs it.
pub async fn stop_child(
    child: &mut Child,
    sig: i32,
    grace: Duration,
) -> Option<std::process::ExitStatus> {
    let pid = child.id()?;
    signal(pid, sig);
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status.ok(),
        Err(_) => {
            let _ = child.kill().await;
            child.wait().await.ok()
        }
    }
}

/// Waits for a process we do not own (no handle) to go away.
pub fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !alive(pid)
}

/// The pid in a PostgreSQL data directory's postmaster.pid, if that process is alive and is
/// a postmaster of this data directory. The file belongs to the database account, which can
/// write any pid into it: before anything signals that pid, the process must run a program
/// named `postgres`, as `owner`, with the data directory as its working directory.
pub fn postmaster_pid(data: &Path, owner: u32) -> Option<u32> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut text = String::new();
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(data.join("postmaster.pid"))
        .ok()?;
    std::io::Read::read_to_string(&mut file, &mut text).ok()?;
    let pid: u32 = text.lines().next()?.trim().parse().ok()?;
    if !alive(pid) {
        return None;
    }
    if is_postmaster_of(pid, data, owner) {
        Some(pid)
    } else {
        tracing::warn!(
            pid,
            data = %data.display(),
            "postmaster.pid names a process that is not a PostgreSQL of this data directory; leaving it alone"
        );
        None
    }
}

/// Stops a postmaster of `data` that nothing supervises any more (its supervisor was killed:
/// a plain PostgreSQL, or a Neon compute's postgres, which outlives its compute_ctl). A second
/// one on the same data directory and port would be refused, and compute_ctl removes the
/// directory under a running one. SIGINT is a fast shutdown; SIGKILL after `patience`.
/// Returns the pid it stopped.
pub fn stop_leftover_postmaster(data: &Path, owner: u32, patience: Duration) -> Option<u32> {
    let pid = postmaster_pid(data, owner)?;
    tracing::warn!(pid, data = %data.display(), "stopping a PostgreSQL left running by an earlier supervisor");
    signal(pid, libc::SIGINT);
    if !wait_gone(pid, patience) {
        signal(pid, libc::SIGKILL);
        wait_gone(pid, Duration::from_secs(5));
    }
    Some(pid)
}

fn is_postmaster_of(pid: u32, data: &Path, owner: u32) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let Ok(meta) = std::fs::metadata(&proc_dir) else {
        return false;
    };
    let exe_ok = std::fs::read_link(proc_dir.join("exe"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_os_string()))
        .is_some_and(|n| n == "postgres");
    let cwd_ok = match (
        std::fs::read_link(proc_dir.join("cwd")),
        std::fs::canonicalize(data),
    ) {
        (Ok(cwd), Ok(data)) => cwd == data,
        _ => false,
    };
    meta.uid() == owner && exe_ok && cwd_ok
}

/// The last `n` lines of a log, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// What it takes to stop a compute as neon_local does (control_plane/src/endpoint.rs:1140-1171):
/// `pg_ctl -D <pgdata> -w -m fast stop`, then wait for compute_ctl. Signalling compute_ctl
/// alone is not enough: it forwards SIGINT to its postgres and exits at once, without waiting
/// (compute_tools/src/bin/compute_ctl.rs:362-366, compute.rs:2922-2929), and the next
/// compute_ctl on the same pgdata removes that directory first (compute.rs:1201-1217) and
/// binds the same port — while the old postmaster may still be shutting down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputeStop {
    pub pg_ctl: PathBuf,
    pub lib: PathBuf,
    pub pgdata: PathBuf,
    pub port: u16,
}

impl ComputeStop {
    /// Read back from the compute_ctl command line wsctl built (`--pgdata`, `--connstr`,
    /// `--pgbin`); `None` for any other service.
    pub fn of(spec: &ServiceSpec) -> Option<ComputeStop> {
        if spec.program.file_name()? != "compute_ctl" {
            return None;
        }
        let arg = |name: &str| {
            let i = spec.args.iter().position(|a| a == name)?;
            spec.args.get(i + 1).cloned()
        };
        let pgbin = PathBuf::from(arg("--pgbin")?);
        let bin = pgbin.parent()?;
        let port = arg("--connstr")?
            .rsplit_once(':')?
            .1
            .split('/')
            .next()?
            .parse()
            .ok()?;
        Some(ComputeStop {
            pg_ctl: bin.join("pg_ctl"),
            lib: bin.parent()?.join("lib"),
            pgdata: PathBuf::from(arg("--pgdata")?),
            port,
        })
    }

    /// Stops the postmaster on `pgdata` (if one runs), waits for compute_ctl, and returns once
    /// neither the postmaster nor anything on the port is left.
    pub async fn stop(
        &self,
        child: Option<&mut Child>,
        run_as: Option<RunAs>,
    ) -> anyhow::Result<Option<std::process::ExitStatus>> {
        // The postmaster runs as the account compute_ctl runs as.
        // SAFETY: geteuid has no preconditions.
        let owner = run_as.map_or_else(|| unsafe { libc::geteuid() }, |u| u.uid);
        let postmaster = postmaster_pid(&self.pgdata, owner);
        if postmaster.is_some() {
            self.pg_ctl_stop(run_as).await;
        }
        let status = match child {
            // compute_ctl exits by itself once its postgres has (compute.rs:703-748).
            Some(child) => {
                match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
                    Ok(s) => s.ok(),
                    Err(_) => stop_child(child, libc::SIGTERM, Duration::from_secs(10)).await,
                }
            }
            None => None,
        };
        if let Some(pid) = postmaster.or_else(|| postmaster_pid(&self.pgdata, owner)) {
            self.reap_postmaster(pid).await;
        }
        self.wait_port_free(Duration::from_secs(30)).await?;
        Ok(status)
    }

    async fn pg_ctl_stop(&self, run_as: Option<RunAs>) {
        let mut cmd = std::process::Command::new(&self.pg_ctl);
        cmd.arg("-D")
            .arg(&self.pgdata)
            .args(["-w", "-m", "fast", "stop"])
            .env_clear()
            .env("LD_LIBRARY_PATH", &self.lib)
            .stdin(Stdio::null());
        if let Some(user) = run_as {
            user.apply(&mut cmd);
        }
        match Command::from(cmd).output().await {
            Ok(out) if out.status.success() => {}
            // "no server running" races with a postmaster that just exited: the waits below
            // decide.
            Ok(out) => tracing::warn!(
                pgdata = %self.pgdata.display(),
                stderr = %String::from_utf8_lossy(&out.stderr).trim(),
                "pg_ctl stop failed"
            ),
            Err(e) => {
                tracing::warn!(pg_ctl = %self.pg_ctl.display(), error = %e, "could not run pg_ctl")
            }
        }
    }

    /// A postmaster that outlives `pg_ctl stop` (pg_ctl failed, or compute_ctl had already
    /// exited) gets a fast shutdown itself, then an immediate one, then SIGKILL.
    async fn reap_postmaster(&self, pid: u32) {
        for (sig, wait) in [
            (libc::SIGINT, Duration::from_secs(30)),
            (libc::SIGQUIT, Duration::from_secs(5)),
            (libc::SIGKILL, Duration::from_secs(5)),
        ] {
            if !alive(pid) {
                return;
            }
            tracing::warn!(pid, sig, pgdata = %self.pgdata.display(), "postmaster still running");
            signal(pid, sig);
            if tokio::task::spawn_blocking(move || wait_gone(pid, wait))
                .await
                .unwrap_or(false)
            {
                return;
            }
        }
    }

    async fn wait_port_free(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_ok()
        {
            if Instant::now() > deadline {
                anyhow::bail!(
                    "port {} still accepts connections after its compute was stopped — find the \
                     process with `ss -ltnp 'sport = :{}'` and stop it",
                    self.port,
                    self.port
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

/// Stops one service: a compute as [`ComputeStop`] says, anything else with its stop signal.
pub async fn stop_service(
    child: Option<&mut Child>,
    spec: &ServiceSpec,
    grace: Duration,
) -> Option<std::process::ExitStatus> {
    match ComputeStop::of(spec) {
        Some(compute) => match compute.stop(child, spec.run_as).await {
            Ok(status) => status,
            Err(e) => {
                tracing::error!(service = %spec.name, error = %format!("{e:#}"), "stopping compute");
                None
            }
        },
        None => match child {
            Some(child) => stop_child(child, spec.stop_signal, grace).await,
            None => None,
        },
    }
}
