//! `wsctl down --destroy`: the stack, its data, containers, volumes and state, gone — also
//! when it is broken or half-started (a corrupt state.json, a dead supervisor, a postmaster
//! left behind). It stops what `down` can, repairs what `doctor --fix` can, then purges as
//! `down --purge` does, refusing a directory that is not a wsctl state directory.

use anyhow::bail;

use super::doctor;
use crate::runtime::{self, Down, Purged};
use crate::stack::state::{Lock, StateDir};

/// What `destroy` did.
pub struct Destroyed {
    /// What stopping found (`None`: there was no state directory).
    pub stopped: Option<Down>,
    /// Stopping failed (the stack was broken); destroy went on.
    pub stop_error: Option<String>,
    /// What `doctor --fix` repaired on the way.
    pub repaired: Vec<String>,
    pub purged: Purged,
}

pub async fn destroy(dir: &StateDir) -> anyhow::Result<Destroyed> {
    if !dir.root.exists() {
        return Ok(Destroyed {
            stopped: None,
            stop_error: None,
            repaired: Vec::new(),
            purged: Purged::Native { root: None },
        });
    }
    dir.check_purgeable()?;
    let runtime = runtime::for_dir(dir);
    let (stopped, stop_error) = match runtime.down(dir).await {
        Ok(down) => (Some(down), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    // Stale pid/status files, a postmaster the stop did not see.
    let report = doctor::run(dir, true).await;
    let repaired = report
        .findings
        .iter()
        .filter(|f| f.fixed)
        .map(|f| f.message.clone())
        .collect();
    if Lock::is_held(&dir.lock_file())? {
        let pid = std::fs::read_to_string(dir.pid_file()).unwrap_or_default();
        bail!(
            "the stack's supervisor (pid {}) still holds {} and did not stop{} — stop it \
             (`kill {}`), then run `wsctl down --destroy` again",
            pid.trim(),
            dir.lock_file().display(),
            stop_error
                .as_deref()
                .map_or(String::new(), |e| format!(": {e}")),
            pid.trim()
        );
    }
    let purged = runtime.purge(dir)?;
    Ok(Destroyed {
        stopped,
        stop_error,
        repaired,
        purged,
    })
}
