//! What the supervisor (native processes) and the watcher (a compose project) share: the
//! state directory's lock and pid file while the stack is up, status.json, and the
//! lifecycle both run — start, then reload on SIGHUP and look after the services on every
//! tick until SIGTERM or SIGINT, then stop.

use std::time::Duration;

use anyhow::Context;

use super::state::{Lock, Phase, StateDir, Status};

/// The lock, held for the process's life, and the status it mirrors into status.json.
pub struct Hold {
    pub status: Status,
    _lock: Lock,
}

impl Hold {
    /// Takes the lock (fails if another supervisor or watcher runs on `dir`), writes the pid
    /// file and a status in the starting phase.
    pub fn take(dir: &StateDir) -> anyhow::Result<Hold> {
        let lock = Lock::try_acquire(&dir.lock_file())?.with_context(|| {
            format!(
                "another wsctl supervisor already runs on {}",
                dir.root.display()
            )
        })?;
        std::fs::write(dir.pid_file(), std::process::id().to_string())?;
        let status = Status {
            phase: Phase::Starting,
            error: None,
            supervisor_pid: std::process::id(),
            services: Vec::new(),
        };
        dir.save_status(&status)?;
        Ok(Hold {
            status,
            _lock: lock,
        })
    }

    /// Writes status.json; a failure is logged, the services keep running.
    pub fn save(&self, dir: &StateDir) {
        if let Err(e) = dir.save_status(&self.status) {
            tracing::warn!(error = %e, "could not write status.json");
        }
    }
}

/// The supervisor or the watcher, as the lifecycle drives it.
#[async_trait::async_trait]
pub trait Holder: Send {
    fn hold(&mut self) -> &mut Hold;
    fn dir(&self) -> &StateDir;
    /// Copies the services' state into the hold's status and saves it.
    fn mirror(&mut self);
    /// Starts every service, in order; an error ends the start.
    async fn start(&mut self) -> anyhow::Result<()>;
    /// Stops every service, after a failed start or on SIGTERM/SIGINT.
    async fn stop(&mut self) -> anyhow::Result<()>;
    /// SIGHUP: state.json changed (a branch's compute or preview API, the active branch).
    async fn reload(&mut self) -> anyhow::Result<()>;
    /// Restarts what died, refreshes what status.json says.
    async fn tick(&mut self);
    fn tick_every(&self) -> Duration;
    /// What is logged once the stack is ready, and when a reload fails.
    fn ready(&self);
    fn reload_failed(&self, e: &anyhow::Error);
}

fn set_phase(h: &mut impl Holder, phase: Phase) {
    h.hold().status.phase = phase;
    h.mirror();
}

/// Starts everything and looks after it until a stop signal. Errors during start are
/// written to status.json (so a detached `up` can report them) and returned.
pub async fn run(mut h: impl Holder) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    // Taken before the start: a SIGHUP sent while the stack starts (a branch created by
    // another command) waits for the loop instead of ending the process.
    let mut hup = signal(SignalKind::hangup())?;
    let started = tokio::select! {
        r = h.start() => r,
        _ = term.recv() => Err(anyhow::anyhow!("stopped by SIGTERM while starting")),
        _ = int.recv() => Err(anyhow::anyhow!("stopped by SIGINT while starting")),
    };
    if let Err(e) = started {
        h.hold().status.error = Some(format!("{e:#}"));
        set_phase(&mut h, Phase::Failed);
        if let Err(e) = h.stop().await {
            tracing::error!(error = %format!("{e:#}"), "stopping after a failed start");
        }
        h.mirror();
        return Err(e);
    }
    set_phase(&mut h, Phase::Ready);
    h.ready();
    let every = h.tick_every();
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                if let Err(e) = h.reload().await {
                    h.reload_failed(&e);
                }
            }
            _ = tokio::time::sleep(every) => {
                h.tick().await;
                // Expiry and snapshot retention, in a process of its own when due.
                super::sweep::tick(h.dir());
            }
        }
    }
    set_phase(&mut h, Phase::Stopping);
    let stopped = h.stop().await;
    h.hold().status.phase = Phase::Stopped;
    h.hold().status.services.clear();
    let dir = h.dir().clone();
    h.hold().save(&dir);
    stopped
}
