//! The supervisor's (and the container watcher's) share of expiry and snapshot retention:
//! when a branch's time is up, or every few minutes for retention, it runs `wsctl sweep` in
//! a process of its own. That process deletes through the backend like any other wsctl
//! command, which has the supervisor stop the branch's compute and preview API
//! (`stack::control`); it cannot run inside the supervisor, which must stay free to do so.

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::state::StateDir;

/// How often retention is applied when nothing expires (`WSCTL_SWEEP_INTERVAL`, seconds).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// A branch that cannot be deleted (it has children, the API serves it) is retried this often.
const RETRY: Duration = Duration::from_secs(5);

struct Sweeper {
    child: Option<Child>,
    last_check: Instant,
    last_run: Option<Instant>,
}

static SWEEPER: Mutex<Option<Sweeper>> = Mutex::new(None);

fn interval() -> Duration {
    std::env::var("WSCTL_SWEEP_INTERVAL")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(DEFAULT_INTERVAL, Duration::from_secs)
}

/// Called on every pass of the supervisor's loop; cheap when there is nothing to do.
pub fn tick(dir: &StateDir) {
    let Ok(mut guard) = SWEEPER.lock() else {
        return;
    };
    let s = guard.get_or_insert_with(|| Sweeper {
        child: None,
        last_check: Instant::now() - Duration::from_secs(1),
        last_run: None,
    });
    if s.last_check.elapsed() < Duration::from_secs(1) {
        return;
    }
    s.last_check = Instant::now();
    if let Some(child) = &mut s.child {
        match child.try_wait() {
            Ok(None) => return,
            _ => s.child = None,
        }
    }
    let since = s.last_run.map(|t| t.elapsed());
    let due = dir
        .load()
        .ok()
        .flatten()
        .is_some_and(|st| !st.lifecycle.due(chrono::Utc::now()).is_empty());
    let run = match since {
        // Once at start: retention, and whatever expired while the stack was down.
        None => true,
        Some(t) => (due && t >= RETRY) || t >= interval(),
    };
    if run {
        s.last_run = Some(Instant::now());
        match spawn(dir) {
            Ok(child) => s.child = Some(child),
            Err(e) => tracing::error!(error = %format!("{e:#}"), "could not start wsctl sweep"),
        }
    }
}

fn spawn(dir: &StateDir) -> anyhow::Result<Child> {
    let log = super::trust::open_log(&dir.log("sweep"))?;
    let err = log.try_clone()?;
    Ok(Command::new(std::env::current_exe()?)
        .arg("--state-dir")
        .arg(&dir.root)
        .arg("sweep")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()?)
}
