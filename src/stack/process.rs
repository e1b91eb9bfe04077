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

use super::postgres::RunAs;

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
