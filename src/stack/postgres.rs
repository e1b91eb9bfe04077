//! Plain PostgreSQL as a local process: finding the binaries, `initdb`, and the `postgres`
//! command line. Used by `wsctl`'s embedded backend and by the test harness.
//!
//! PostgreSQL refuses to run as root. When we are root, initdb and the server run as an
//! unprivileged account (`postgres` if it exists, else `nobody`), and the data directory is
//! handed to that account.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

pub use super::user::RunAs;

/// A directory holding `initdb`, `postgres`, `pg_ctl` and friends.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    pub bindir: PathBuf,
}

impl PgBinaries {
    /// Looks in this order: the given directory, `initdb` on PATH, `pg_config --bindir`, then
    /// `/usr/lib/postgresql/*/bin` (Debian's layout), newest major version first.
    /// The directory found must be trusted (see `trust`): wsctl runs these programs, often
    /// as root.
    pub fn discover(explicit: Option<&Path>) -> anyhow::Result<Self> {
        let found = Self::find(explicit)?;
        for tool in ["initdb", "postgres"] {
            let path = found.tool(tool);
            super::trust::check(&path, "PostgreSQL program")?;
        }
        let bindir = fs::canonicalize(&found.bindir)?;
        Ok(PgBinaries { bindir })
    }

    fn find(explicit: Option<&Path>) -> anyhow::Result<Self> {
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

    /// A tool of this directory, checked like the directory was (`psql`, `pg_dump`).
    pub fn trusted_tool(&self, name: &str) -> anyhow::Result<PathBuf> {
        let path = self.tool(name);
        super::trust::check(&path, "PostgreSQL program")?;
        Ok(path)
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

/// Creates a cluster in `data_dir` (which must not exist or be empty) with superuser
/// `superuser` and the given password, SCRAM authentication on TCP, UTF-8.
///
/// The password reaches initdb through an anonymous in-memory file (`memfd`) it reads as
/// `/proc/self/fd/3`: it is never on disk, so no other account can read it or redirect its
/// creation with a symlink.
pub fn initdb(
    bins: &PgBinaries,
    data_dir: &Path,
    superuser: &str,
    password: &str,
    run_as: Option<RunAs>,
    fast: bool,
) -> anyhow::Result<()> {
    if let Some(parent) = data_dir.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    super::trust::own_dir(data_dir, 0o700, run_as)?;
    let pwfile = password_memfd(password)?;
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
            "--pwfile=/proc/self/fd/3",
        ])
        .stdin(Stdio::null());
    if fast {
        cmd.arg("--no-sync");
    }
    if let Some(user) = run_as {
        user.apply(&mut cmd);
    }
    {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let fd = pwfile.as_raw_fd();
        // SAFETY: dup2 and fcntl are async-signal-safe. The copy at 3 has no close-on-exec
        // flag, so initdb (and only initdb) inherits it.
        unsafe {
            cmd.pre_exec(move || {
                let rc = if fd == 3 {
                    libc::fcntl(3, libc::F_SETFD, 0)
                } else {
                    libc::dup2(fd, 3)
                };
                if rc < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let out = cmd
        .output()
        .with_context(|| format!("running {}", bins.tool("initdb").display()))?;
    drop(pwfile);
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

/// An unnamed file in memory holding `password` (close-on-exec: no child inherits it unless
/// asked to).
fn password_memfd(password: &str) -> anyhow::Result<fs::File> {
    use std::io::{Seek, Write};
    use std::os::fd::FromRawFd;
    // SAFETY: memfd_create with a static NUL-terminated name; the fd is owned by the File.
    let fd = unsafe { libc::memfd_create(c"initdb-pwfile".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("memfd_create for initdb's password");
    }
    // SAFETY: fd is a new descriptor nothing else owns.
    let mut file = unsafe { fs::File::from_raw_fd(fd) };
    file.write_all(password.as_bytes())?;
    file.rewind()?;
    Ok(file)
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
