//! The unprivileged account PostgreSQL (and Neon's compute) run as when wsctl is root.

use std::ffi::CString;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

/// The account PostgreSQL runs as when we are root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// `None` when not root: then everything runs as the current user.
    pub fn unprivileged() -> anyhow::Result<Option<RunAs>> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(None);
        }
        for name in ["postgres", "nobody"] {
            if let Some(user) = lookup_user(name) {
                return Ok(Some(user));
            }
        }
        bail!("running as root and neither a `postgres` nor a `nobody` account exists to run PostgreSQL as — create one (`useradd --system postgres`) or run as a normal user")
    }

    pub fn apply(&self, cmd: &mut Command) {
        use std::os::unix::process::CommandExt;
        // std also clears root's supplementary groups when it drops to another uid.
        cmd.uid(self.uid).gid(self.gid);
    }

    /// Gives `path` itself (not recursively, and never what a symlink there points to) to
    /// this account.
    pub fn chown(&self, path: &Path) -> anyhow::Result<()> {
        std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid))
            .with_context(|| format!("chown {}", path.display()))
    }
}

fn lookup_user(name: &str) -> Option<RunAs> {
    let cname = CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer to static storage or null; we copy out at once.
    let pw = unsafe { libc::getpwnam(cname.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    // SAFETY: checked non-null above.
    let pw = unsafe { &*pw };
    Some(RunAs {
        uid: pw.pw_uid,
        gid: pw.pw_gid,
    })
}
