//! The source's backup: `pg_dump` in custom format from the import's own snapshot, so it holds
//! exactly what was imported, and a `sha256sum`-style checksum file beside it.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Serialize)]
pub struct Backup {
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    pub seconds: f64,
}

/// The backup's file name: the source database's name can be anything (`../../etc/x`), so
/// only letters, digits, `-` and `_` of it are kept.
pub fn file_name(database: &str, stamp: &str) -> String {
    let safe: String = database
        .chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '_' => c,
            _ => '_',
        })
        .take(64)
        .collect();
    let safe = if safe.trim_matches('_').is_empty() {
        "source".to_string()
    } else {
        safe
    };
    format!("{safe}-{stamp}.dump")
}

/// Starts `pg_dump` on the source; the password goes through the environment, never the
/// command line (which every local user can read).
pub fn start(
    pg_dump: &Path,
    source: &tokio_postgres::Config,
    snapshot: &str,
    file: &Path,
) -> anyhow::Result<tokio::process::Child> {
    let host = match source.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = source.get_ports().first().copied().unwrap_or(5432);
    let mut cmd = tokio::process::Command::new(pg_dump);
    cmd.args(["--format=custom", "--no-password", "--compress=1"])
        .arg(format!("--snapshot={snapshot}"))
        .arg(format!("--file={}", file.display()))
        .args(["--host", &host, "--port", &port.to_string()])
        .args(["--dbname", source.get_dbname().unwrap_or("postgres")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(user) = source.get_user() {
        cmd.args(["--username", user]);
    }
    if let Some(pw) = source.get_password() {
        cmd.env("PGPASSWORD", String::from_utf8_lossy(pw).into_owned());
    }
    // wsctl's own connection refused a cleartext request; libpq 16 and later can refuse it
    // too (older versions ignore the variable).
    cmd.env("PGREQUIREAUTH", "scram-sha-256,md5");
    // The dump holds the users' data: only its owner may read it.
    crate::stack::state::create_private(file)?;
    cmd.spawn()
        .with_context(|| format!("running {}", pg_dump.display()))
}

/// Waits for `pg_dump`, then checksums the file and writes `<file>.sha256`.
pub async fn finish(
    child: tokio::process::Child,
    file: &Path,
    started: std::time::Instant,
) -> anyhow::Result<Backup> {
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("server version mismatch") {
            bail!(
                "pg_dump is older than the source server ({}) — pass --pg-bin with that \
                 PostgreSQL version's bin directory, or --no-backup",
                err.trim()
            );
        }
        bail!("pg_dump failed: {}", err.trim());
    }
    let path = file.to_path_buf();
    let (sha256, bytes) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let mut f = std::fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            hasher.update(&buf[..n]);
        }
        Ok((hex::encode(hasher.finalize()), total))
    })
    .await??;
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let sum_file = PathBuf::from(format!("{}.sha256", file.display()));
    std::io::Write::write_all(
        &mut crate::stack::state::create_private(&sum_file)?,
        format!("{sha256}  {name}\n").as_bytes(),
    )?;
    Ok(Backup {
        path: file.to_path_buf(),
        sha256,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}
