//! Starting the lock holder (the supervisor, or the watcher of a compose project) and
//! waiting for it: the same for both runtimes, since both run as `wsctl supervise`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::stack::state::{Lock, Phase, StackState, StateDir};

/// Runs the stack's services in this process until SIGTERM or SIGINT (`wsctl supervise`,
/// `up --foreground`).
pub async fn supervise(dir: &StateDir, state: StackState) -> anyhow::Result<()> {
    super::supervise(dir.clone(), state).await
}

/// Starts `wsctl supervise` in its own session, detached from this terminal.
pub fn spawn_supervisor(dir: &StateDir) -> anyhow::Result<std::process::Child> {
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
    cmd.spawn().context("starting the supervisor")
}

/// How the supervisor `up` started ended its start.
pub enum Started {
    Ready,
    /// Its start failed; the error it wrote to status.json.
    Failed(String),
    /// Not healthy within the timeout (it still runs).
    TimedOut,
}

/// Waits for the supervisor this `up` started: only a status.json it wrote counts (the
/// previous run's, which may say failed, does not), and its exit ends the wait.
pub async fn wait_for_supervisor(
    dir: &StateDir,
    child: &mut std::process::Child,
    timeout: Duration,
) -> anyhow::Result<Started> {
    let deadline = Instant::now() + timeout;
    let pid = child.id();
    loop {
        let exited = child.try_wait()?;
        let status = dir.load_status().filter(|s| s.supervisor_pid == pid);
        match (status.as_ref().map(|s| s.phase), exited) {
            (Some(Phase::Ready), None) => return Ok(Started::Ready),
            (Some(Phase::Failed), _) | (_, Some(_)) => {
                let why = status
                    .and_then(|s| s.error)
                    .unwrap_or_else(|| match exited {
                        Some(code) => format!("the supervisor exited ({code})"),
                        None => "unknown".into(),
                    });
                // Reap it so no zombie is left while `up` reports.
                let _ = child.wait();
                return Ok(Started::Failed(why));
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Ok(Started::TimedOut);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until status.json leaves the starting phase (or the supervisor dies).
pub async fn wait_for_phase(dir: &StateDir, timeout: Duration) -> anyhow::Result<Phase> {
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

/// Stops the supervisor this `up` started, also before it took the lock: SIGTERM, which it
/// answers by stopping what it started (before its handler is in place, nothing has).
pub async fn stop_started(child: &mut std::process::Child) -> anyhow::Result<()> {
    crate::stack::process::signal(child.id(), libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(40);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
