//! One writer of state.json at a time: `state.lock`, an exclusive flock every operation that
//! changes state.json holds from its load to its save (a whole `branch create`: the
//! pageserver call and the state update). Without it two wsctl processes (a CLI command and
//! a console action, or two shells) each load the same state.json and the second save drops
//! the first one's change.
//!
//! Readers (`status`, `branch list`, the console's pages) never take it: state.json is
//! replaced atomically, so they see the old or the new file.
//!
//! The kernel releases a flock when its holder's last descriptor closes, however the holder
//! ends (kill -9 included), so a crashed wsctl never leaves the stack locked. The pid and
//! command line written into the file are only for the message a waiting writer prints: the
//! flock alone decides who holds it, so a stale pid left there by a crashed holder changes
//! nothing.

use std::fs;
use std::io::{IsTerminal, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// How long a writer waits for the one before it, unless `WSCTL_STATE_LOCK_TIMEOUT` (seconds)
/// says otherwise: longer than any one operation takes (a Neon branch with its compute, a
/// migration with its snapshot), short enough that a stuck holder is reported.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// After this long a waiting writer on a terminal says what it waits for.
const SAY_AFTER: Duration = Duration::from_secs(1);

/// How often a waiting writer tries again. Polled rather than a blocking flock so that the
/// wait can say who holds the lock and give up at the timeout.
const POLL: Duration = Duration::from_millis(25);

/// The holder of state.lock, as it wrote itself into the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// Its command line (passwords in connection strings masked).
    pub command: String,
    pub since: chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {}: `{}`", self.pid, self.command)
    }
}

/// The exclusive lock on a stack's state.json; released on drop (or when the process ends).
#[derive(Debug)]
pub struct StateLock {
    file: fs::File,
    path: PathBuf,
}

impl StateLock {
    /// Waits for the lock at `path` (the stack is named `stack` in messages) for the
    /// timeout `WSCTL_STATE_LOCK_TIMEOUT` gives, else [`DEFAULT_TIMEOUT`].
    pub fn acquire(path: &Path, stack: &str) -> anyhow::Result<StateLock> {
        Self::acquire_within(path, stack, timeout_from_env()?)
    }

    /// [`StateLock::acquire`] off the async runtime's threads: a console action waiting
    /// for a CLI command must not stall the console's other requests.
    pub async fn acquire_async(path: &Path, stack: &str) -> anyhow::Result<StateLock> {
        let (path, stack) = (path.to_path_buf(), stack.to_string());
        tokio::task::spawn_blocking(move || Self::acquire(&path, &stack))
            .await
            .context("waiting for state.lock")?
    }

    pub fn acquire_within(path: &Path, stack: &str, timeout: Duration) -> anyhow::Result<Self> {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let started = Instant::now();
        let mut said = false;
        while !try_flock(&file, path)? {
            let waited = started.elapsed();
            if waited >= timeout {
                bail!(
                    "another wsctl operation on {stack} ({}) has held {} for over {} s — wait \
                     for it to finish or stop it; if it is stuck, raise WSCTL_STATE_LOCK_TIMEOUT \
                     (seconds) to wait longer",
                    describe(Self::holder(path)),
                    path.display(),
                    timeout.as_secs()
                );
            }
            if !said && waited >= SAY_AFTER && std::io::stderr().is_terminal() {
                eprintln!(
                    "waiting for another wsctl operation on {stack} ({})…",
                    describe(Self::holder(path))
                );
                said = true;
            }
            std::thread::sleep(POLL);
        }
        let lock = StateLock {
            file,
            path: path.to_path_buf(),
        };
        lock.record()?;
        Ok(lock)
    }

    /// Who holds the lock at `path`, as the holder wrote it; `None` when nobody wrote (yet)
    /// or the file cannot be read. Only meaningful while the flock is held.
    pub fn holder(path: &Path) -> Option<Holder> {
        let mut text = String::new();
        fs::File::open(path).ok()?.read_to_string(&mut text).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The lock file this guards.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes this process into the file, for the message the next writer prints.
    fn record(&self) -> anyhow::Result<()> {
        let holder = Holder {
            pid: std::process::id(),
            command: command_line(),
            since: chrono::Utc::now(),
        };
        let mut file = &self.file;
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(&serde_json::to_vec(&holder)?)
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Emptied before the descriptor closes (which releases the flock), so the next
        // writer's waiters never read this process as the holder. A crash skips this; then
        // the stale pid is there until the next holder overwrites it, and nothing uses it.
        let _ = self.file.set_len(0);
    }
}

fn try_flock(file: &fs::File, path: &Path) -> anyhow::Result<bool> {
    // SAFETY: flock on a file descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EWOULDBLOCK) | Some(libc::EINTR) => Ok(false),
        _ => bail!("locking {}: {err}", path.display()),
    }
}

fn describe(holder: Option<Holder>) -> String {
    holder.map_or_else(|| "pid unknown".to_string(), |h| h.to_string())
}

fn timeout_from_env() -> anyhow::Result<Duration> {
    match std::env::var("WSCTL_STATE_LOCK_TIMEOUT") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map(Duration::from_secs).map_err(|_| {
            anyhow::anyhow!("WSCTL_STATE_LOCK_TIMEOUT={v:?} is not a number of seconds")
        }),
        _ => Ok(DEFAULT_TIMEOUT),
    }
}

/// `wsctl branch create x`: the program's file name and its arguments, with the password
/// of any connection string masked (`import --from postgres://u:pw@host/db`).
fn command_line() -> String {
    let mut args = std::env::args();
    let program = args
        .next()
        .map(|p| {
            Path::new(&p)
                .file_name()
                .map_or(p.clone(), |n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "wsctl".into());
    std::iter::once(program)
        .chain(args.map(|a| mask_password(&a)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn mask_password(arg: &str) -> String {
    if let Some(at) = arg.find("password=") {
        let end = arg[at..].find(' ').map_or(arg.len(), |e| at + e);
        return format!("{}password=***{}", &arg[..at], &arg[end..]);
    }
    let Some(scheme) = arg.find("://") else {
        return arg.to_string();
    };
    let rest = &arg[scheme + 3..];
    match (rest.find('@'), rest.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:***{}",
            &arg[..scheme + 3],
            &rest[..colon],
            &rest[at..]
        ),
        _ => arg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_second_writer_waits_until_the_first_drops_and_can_read_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.lock");
        let first = StateLock::acquire_within(&path, "t", Duration::from_secs(5)).unwrap();
        let holder = StateLock::holder(&path).expect("the holder wrote itself into the file");
        assert_eq!(holder.pid, std::process::id());
        assert!(!holder.command.is_empty(), "{holder:?}");

        let (tx, rx) = mpsc::channel();
        let p = path.clone();
        let second = std::thread::spawn(move || {
            // Another open file description: flock makes it wait like another process.
            let lock = StateLock::acquire_within(&p, "t", Duration::from_secs(20)).unwrap();
            tx.send(Instant::now()).unwrap();
            lock
        });
        std::thread::sleep(Duration::from_millis(400));
        assert!(rx.try_recv().is_err(), "the second writer did not wait");
        let released = Instant::now();
        drop(first);
        let got = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(got >= released);
        let _second = second.join().unwrap();
        assert_eq!(StateLock::holder(&path).unwrap().pid, std::process::id());
    }

    #[test]
    fn a_writer_gives_up_after_the_timeout_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.lock");
        let _held = StateLock::acquire_within(&path, "the stack in X", Duration::ZERO).unwrap();
        let err = StateLock::acquire_within(&path, "the stack in X", Duration::from_millis(100))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id()))
                && err.contains("the stack in X")
                && err.contains("WSCTL_STATE_LOCK_TIMEOUT"),
            "{err}"
        );
    }

    #[test]
    fn a_stale_holder_left_by_a_crash_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.lock");
        // What a holder killed with -9 leaves: its record, and no flock (the kernel dropped it).
        let stale = Holder {
            pid: 999_999,
            command: "wsctl branch create gone".into(),
            since: chrono::Utc::now(),
        };
        fs::write(&path, serde_json::to_vec(&stale).unwrap()).unwrap();
        let lock = StateLock::acquire_within(&path, "t", Duration::ZERO).unwrap();
        assert_eq!(StateLock::holder(&path).unwrap().pid, std::process::id());
        drop(lock);
        assert_eq!(StateLock::holder(&path), None, "emptied on release");
    }

    #[test]
    fn passwords_in_the_command_line_are_masked() {
        assert_eq!(
            mask_password("postgres://u:secret@db/x"),
            "postgres://u:***@db/x"
        );
        assert_eq!(
            mask_password("host=h password=secret dbname=x"),
            "host=h password=*** dbname=x"
        );
        assert_eq!(
            mask_password("postgres://u@db:5432/x"),
            "postgres://u@db:5432/x"
        );
        assert_eq!(mask_password("b1"), "b1");
    }
}
