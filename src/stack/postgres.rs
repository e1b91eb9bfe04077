//! Plain PostgreSQL as a local process: finding the binaries, `initdb`, and the `postgres`
//! command line. Used by `wsctl`'s embedded backend and by the test harness.
//!
//! PostgreSQL refuses to run as root. When we are root, initdb and the server run as an
//! unprivileged account (`postgres` if it exists, else `nobody`), and the data directory is
//! handed to that account.

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

/// A directory holding `initdb`, `postgres`, `pg_ctl` and friends.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    pub bindir: PathBuf,
}

impl PgBinaries {
    /// Looks in this order: the given directory, `initdb` on PATH, `pg_config --bindir`, then
    /// `/usr/lib/postgresql/*/bin` (Debian's layout), newest major version first.
    pub fn discover(explicit: Option<&Path>) -> anyhow::Result<Self> {
        if let Some(dir) = explicit {
            if dir.join("initdb").is_file() {
                return Ok(PgBinaries {
                    bindir: dir.to_path_buf(),
                });
            }
            bail!(
                "no initdb in {} — point --pg-bin (or WSCTL_PG_BIN) at PostgreSQL's bin directory",
                dir.display()
            );
        }
        let on_path = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .find(|d| d.join("initdb").is_file() && d.join("postgres").is_file())
        });
        if let Some(dir) = on_path {
            // A symlinked initdb (some distributions link a few tools into /usr/local/bin)
            // leads to the real bin directory, which has the others (pg_dump, pg_basebackup).
            let real = fs::canonicalize(dir.join("initdb"))
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .filter(|d| d.join("postgres").is_file());
            return Ok(PgBinaries {
                bindir: real.unwrap_or(dir),
            });
        }
        if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if out.status.success() && dir.join("initdb").is_file() {
                return Ok(PgBinaries { bindir: dir });
            }
        }
        let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let major = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").is_file().then_some((major, bin))
            })
            .collect();
        versions.sort();
        if let Some((_, bindir)) = versions.pop() {
            return Ok(PgBinaries { bindir });
        }
        bail!(
            "no PostgreSQL server binaries found (looked for initdb on PATH, via pg_config, and in \
             /usr/lib/postgresql/*/bin) — run `nix develop`, or install your distribution's \
             package (Debian/Ubuntu: `apt-get install postgresql`), or pass --pg-bin DIR"
        )
    }

    pub fn tool(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }

    /// The major version, from `postgres --version` ("postgres (PostgreSQL) 15.18").
    pub fn major_version(&self) -> anyhow::Result<u32> {
        let out = Command::new(self.tool("postgres"))
            .arg("--version")
            .output()
            .with_context(|| format!("running {} --version", self.tool("postgres").display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .last()
            .and_then(|v| v.split('.').next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("unexpected `postgres --version` output: {text:?}"))
    }
}

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

    /// Gives `path` (not recursively) to this account.
    pub fn chown(&self, path: &Path) -> anyhow::Result<()> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
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

/// Creates a cluster in `data_dir` (which must not exist or be empty) with superuser
/// `superuser` and the given password, SCRAM authentication on TCP, UTF-8.
pub fn initdb(
    bins: &PgBinaries,
    data_dir: &Path,
    superuser: &str,
    password: &str,
    run_as: Option<RunAs>,
    fast: bool,
) -> anyhow::Result<()> {
    fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))?;
    // The password file lives next to the data directory only for the duration of initdb.
    let pwfile = data_dir.with_extension("pwfile");
    fs::write(&pwfile, password)?;
    fs::set_permissions(&pwfile, fs::Permissions::from_mode(0o600))?;
    if let Some(user) = run_as {
        user.chown(data_dir)?;
        user.chown(&pwfile)?;
    }
    let mut cmd = Command::new(bins.tool("initdb"));
    cmd.arg("-D")
        .arg(data_dir)
        .args([
            "-U",
            superuser,
            "-E",
            "UTF8",
            "--locale=C",
            "--auth=scram-sha-256",
        ])
        .arg(format!("--pwfile={}", pwfile.display()))
        .stdin(Stdio::null());
    if fast {
        cmd.arg("--no-sync");
    }
    if let Some(user) = run_as {
        user.apply(&mut cmd);
    }
    let out = cmd
        .output()
        .with_context(|| format!("running {}", bins.tool("initdb").display()))?;
    let _ = fs::remove_file(&pwfile);
    if !out.status.success() {
        bail!(
            "initdb failed for {}: {}{}",
            data_dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Server settings for a local development cluster.
pub struct ServerOptions<'a> {
    pub port: u16,
    pub socket_dir: &'a Path,
    /// Trade durability for speed (tests): no fsync, no synchronous commit.
    pub fast: bool,
}

/// The `postgres` command for a cluster: loopback only, its own socket directory.
pub fn server_command(
    bins: &PgBinaries,
    data_dir: &Path,
    options: &ServerOptions<'_>,
    run_as: Option<RunAs>,
) -> Command {
    let mut cmd = Command::new(bins.tool("postgres"));
    cmd.arg("-D").arg(data_dir);
    let mut settings = vec![
        ("listen_addresses", "127.0.0.1".to_string()),
        ("port", options.port.to_string()),
        (
            "unix_socket_directories",
            options.socket_dir.display().to_string(),
        ),
        ("max_connections", "200".into()),
        ("shared_buffers", "128MB".into()),
        ("log_min_messages", "warning".into()),
        // After a crash, recovery first syncs the data directory: file by file (the default)
        // took 2 s here; one syncfs(2) of the file system takes milliseconds (PostgreSQL 14+).
        ("recovery_init_sync_method", "syncfs".into()),
    ];
    if options.fast {
        settings.extend([
            ("fsync", "off".to_string()),
            ("synchronous_commit", "off".into()),
            ("full_page_writes", "off".into()),
        ]);
    }
    for (k, v) in settings {
        cmd.arg("-c").arg(format!("{k}={v}"));
    }
    if let Some(user) = run_as {
        user.apply(&mut cmd);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// A random password of URL-safe characters.
pub fn generate_password() -> String {
    use rand::distributions::Alphanumeric;
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// Waits until the server accepts an authenticated connection, up to `timeout`.
pub async fn wait_ready(
    config: &tokio_postgres::Config,
    timeout: std::time::Duration,
) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match config.connect(tokio_postgres::NoTls).await {
            Ok(_) => return Ok(()),
            Err(e) if std::time::Instant::now() >= deadline => {
                bail!("PostgreSQL did not accept connections within {timeout:?}: {e}")
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}
