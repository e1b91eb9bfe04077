//! Starting the lock holder (the supervisor, or the watcher of a compose project) and
//! waiting for it: the same for both runtimes, since both run as `wsctl supervise`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::stack::state::{Lock, Phase, StackState, StateDir};

/// Runs the stack's services in this process until SIGTERM or SIGINT (`wsctl supervise`,
/// `up --foreground`).
pub async fn supervise(dir: &StateDir, state: StackState) -> anyhow::Result<()> {
    crate::stack::containers::supervise(dir.clone(), state).await
}

/// Starts `wsctl supervise` in its own session, detached from this terminal.
pub fn spawn_supervisor(dir: &StateDir) -> anyhow::Result<()> {
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
