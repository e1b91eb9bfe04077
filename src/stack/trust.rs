//! Which files and directories wsctl may trust, and how it creates the ones it owns.
//!
//! wsctl often runs as root. A config file, state directory or program another account can
//! write is a way for that account to run code as root (a `pg_bin` pointing at its own
//! `psql`), so, as ssh does for `authorized_keys` and git for repositories, wsctl refuses
//! them: the path must belong to the current user or root and be writable by nobody else, and
//! each directory above it must belong to the current user or root too (a shared directory
//! such as /tmp is fine when its sticky bit stops others from renaming what is in it).

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::user::RunAs;

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

fn egid() -> u32 {
    // SAFETY: getegid has no preconditions.
    unsafe { libc::getegid() }
}

/// `postgres (uid 101)`, or `uid 101` for an account without a name.
pub fn describe_uid(uid: u32) -> String {
    // SAFETY: getpwuid returns static storage or null; the name is copied out at once.
    let name = unsafe {
        let pw = libc::getpwuid(uid);
        if pw.is_null() {
            None
        } else {
            std::ffi::CStr::from_ptr((*pw).pw_name)
                .to_str()
                .ok()
                .map(str::to_string)
        }
    };
    match name {
        Some(n) => format!("{n} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

/// Why `meta` cannot be trusted, if it cannot. `shared_ok`: a directory others may write
/// is acceptable when it is sticky (for the directories above the path).
fn distrust(meta: &fs::Metadata, shared_ok: bool) -> Option<String> {
    let me = euid();
    if meta.uid() != me && meta.uid() != 0 {
        return Some(format!(
            "it belongs to {}, not to you ({}) or root",
            describe_uid(meta.uid()),
            describe_uid(me)
        ));
    }
    let mode = meta.mode();
    // Group write is fine for a user's own private group (umask 002), as ssh allows.
    let group_ok = meta.uid() == me && meta.gid() == egid();
    let others_write = mode & 0o002 != 0 || (mode & 0o020 != 0 && !group_ok);
    let sticky = mode & 0o1000 != 0;
    if others_write && !(shared_ok && meta.is_dir() && sticky) {
        return Some(format!(
            "other accounts can write to it (mode {:o})",
            mode & 0o7777
        ));
    }
    None
}

/// Refuses `path` (a config file, state directory or program) unless it and every directory
/// above it are trusted. `what` names it in the error ("config file").
pub fn check(path: &Path, what: &str) -> anyhow::Result<()> {
    let real = fs::canonicalize(path).with_context(|| format!("reading {}", path.display()))?;
    let meta = fs::metadata(&real).with_context(|| format!("reading {}", real.display()))?;
    if let Some(why) = distrust(&meta, false) {
        bail!(
            "refusing the {what} {}: {why}. Another account could use it to run its own programs \
             as you. If it is yours, `chown {} {0}` and `chmod go-w {0}`; otherwise remove it \
             or point wsctl elsewhere (--state-dir, --pg-bin)",
            real.display(),
            euid()
        );
    }
    for dir in real.ancestors().skip(1) {
        let meta = fs::metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
        if let Some(why) = distrust(&meta, true) {
            bail!(
                "refusing the {what} {}: the directory {} above it is not safe — {why}, so \
                 another account could replace what is in it. Move it under a directory only \
                 you or root can write",
                real.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

/// Makes `path` a directory (its parent must exist and be ours), never following a symlink:
/// it is opened with `O_NOFOLLOW` and its mode and owner are set through that descriptor, so
/// nothing another account planted can redirect the change.
pub fn own_dir(path: &Path, mode: u32, owner: Option<RunAs>) -> anyhow::Result<()> {
    match fs::create_dir(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    }
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| {
            format!(
                "opening {} — it must be a directory, not a symbolic link; remove it and retry",
                path.display()
            )
        })?;
    let (uid, gid) = owner.map_or((euid(), egid()), |u| (u.uid, u.gid));
    std::os::unix::fs::fchown(&dir, Some(uid), Some(gid))
        .with_context(|| format!("chown {}", path.display()))?;
    dir.set_permissions(fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))?;
    Ok(())
}

/// Opens a log for appending, creating it 0600: never through a symlink, and only a regular
/// file this account owns (a file another account made, or a hard link to one, is refused).
pub fn open_log(path: &Path) -> anyhow::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| {
            format!(
                "opening {} (it must not be a symbolic link)",
                path.display()
            )
        })?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.uid() != euid() || meta.nlink() != 1 {
        bail!(
            "refusing the log {}: it is not a regular file of yours with one link — remove it",
            path.display()
        );
    }
    // Logs from before 0600 was the rule may still be 0644; the log holds request URLs.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

/// Whether `user` can run the program at `path`: every directory above it searchable and the
/// file executable for that account.
pub fn runnable_by(path: &Path, user: RunAs) -> bool {
    let allowed = |meta: &fs::Metadata, bit: u32| {
        let mode = meta.mode();
        mode & bit != 0
            || (meta.uid() == user.uid && mode & (bit << 6) != 0)
            || (meta.gid() == user.gid && mode & (bit << 3) != 0)
    };
    let Ok(real) = fs::canonicalize(path) else {
        return false;
    };
    real.ancestors()
        .skip(1)
        .all(|d| fs::metadata(d).is_ok_and(|m| allowed(&m, 0o001)))
        && fs::metadata(&real).is_ok_and(|m| allowed(&m, 0o001) && allowed(&m, 0o004))
}

/// A copy of `program` in `dir` (ours, readable by everyone) that `user` can run, for when the
/// build tree sits under a directory the account cannot enter (say /root).
pub fn runnable_copy(program: &Path, dir: &Path, user: RunAs) -> anyhow::Result<PathBuf> {
    if runnable_by(program, user) {
        return Ok(program.to_path_buf());
    }
    own_dir(dir, 0o755, None)?;
    let name = program.file_name().context("program has no file name")?;
    let copy = dir.join(name);
    let tmp = dir.join(format!(
        ".{}.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    std::io::copy(&mut File::open(program)?, &mut out)?;
    drop(out);
    fs::rename(&tmp, &copy)?;
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn world_writable_files_and_dirs_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("workspace-stack.toml");
        fs::write(&f, "").unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        check(&f, "config file").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o666)).unwrap();
        let err = check(&f, "config file").unwrap_err().to_string();
        assert!(err.contains("other accounts can write"), "{err}");
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let err = check(&f, "config file").unwrap_err().to_string();
        assert!(err.contains("above it is not safe"), "{err}");
        // Sticky, like /tmp: others cannot rename what is in it.
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o1777)).unwrap();
        check(&f, "config file").unwrap();
    }

    #[test]
    fn a_program_out_of_an_accounts_reach_is_copied_where_it_can_run_it() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return; // only root has another account to check for
        }
        let account = RunAs {
            uid: 65534,
            gid: 65534,
        };
        let private = tempfile::tempdir().unwrap();
        fs::set_permissions(private.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let program = private.path().join("tool");
        fs::write(&program, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(!runnable_by(&program, account));
        let public = tempfile::tempdir().unwrap();
        fs::set_permissions(public.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let copy = runnable_copy(&program, &public.path().join("bin"), account).unwrap();
        assert!(copy.starts_with(public.path()) && runnable_by(&copy, account));
    }

    #[test]
    fn own_dir_refuses_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("target");
        fs::create_dir(&target).unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o755)).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(own_dir(&link, 0o700, None).is_err());
        assert_eq!(
            fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o755
        );
        let log = tmp.path().join("x.log");
        std::os::unix::fs::symlink(tmp.path().join("victim"), &log).unwrap();
        assert!(open_log(&log).is_err());
        assert!(!tmp.path().join("victim").exists());
    }
}
