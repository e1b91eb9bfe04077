//! The stacks of this user on this machine (see `engine::stacks`): a small
//! registry.json in `$XDG_STATE_HOME/workspace-stack/` (else `~/.local/state/workspace-stack/`),
//! 0600. Each change is a read-modify-write under a flock, written atomically (a crash leaves
//! the old file or the new one); entries whose state directory is gone are dropped when read.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::stack::state::write_atomic;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Registry {
    stacks: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    dir: PathBuf,
}

/// The registry's directory: XDG's state home, else ~/.local/state.
fn registry_dir() -> anyhow::Result<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("XDG_STATE_HOME") {
        return Ok(dir.join("workspace-stack"));
    }
    let home = var("HOME").context("neither XDG_STATE_HOME nor HOME is set")?;
    Ok(home.join(".local/state/workspace-stack"))
}

/// Runs `f` on the registry under its lock and saves the result.
fn update<T>(f: impl FnOnce(&mut Registry) -> T) -> anyhow::Result<T> {
    let dir = registry_dir()?;
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    crate::stack::trust::own_dir(&dir, 0o700, None)?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("registry.lock"))
        .with_context(|| format!("opening {}", dir.join("registry.lock").display()))?;
    // SAFETY: flock on a file descriptor we own; released when `lock` is dropped.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        bail!(
            "locking {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        );
    }
    let path = dir.join("registry.json");
    let mut reg: Registry = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Registry::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    // Stacks deleted by hand (or by --purge elsewhere) drop out.
    reg.stacks.retain(|e| e.dir.join("state.json").is_file());
    let out = f(&mut reg);
    write_atomic(&path, &serde_json::to_vec_pretty(&reg)?, 0o600)?;
    Ok(out)
}

/// Adds the stack in `dir` (`up` calls it once state.json is written).
pub fn record(dir: &Path) -> anyhow::Result<()> {
    update(|reg| {
        if !reg.stacks.iter().any(|e| e.dir == dir) {
            reg.stacks.push(Entry { dir: dir.into() });
        }
    })
}

/// The state directories registered (and still there).
pub fn dirs() -> anyhow::Result<Vec<PathBuf>> {
    update(|reg| reg.stacks.iter().map(|e| e.dir.clone()).collect())
}
