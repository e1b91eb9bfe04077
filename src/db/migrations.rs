//! Versioned SQL migrations, embedded in the binary: every file of `src/db/migrations/`
//! (named as `migration_files` says) at build time.
//!
//! Each migration runs in its own transaction together with the row that records it, so a
//! crash mid-way leaves either the old or the new version, never half of one. A session-level
//! advisory lock serialises concurrent migrators (two `wsctl init`s, or an init racing a test).
//! The recorded SHA-256 of every applied migration is compared with the embedded text, so an
//! edited, already-applied migration is refused instead of silently diverging.

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

/// Every `src/db/migrations/NNNN_name.sql`, in order: the build script embeds the directory
/// (see build.rs), so adding a migration is adding a file — `wsctl migrate new NAME` makes it.
pub const MIGRATIONS: &[Migration] = include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// How the API's `/ready` words a schema migrated past what its binary knows; `wsctl migrate`
/// looks for it to restart an API that runs an older build.
pub const NEWER_THAN_API: &str = "newer than this API";

pub fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Arbitrary but fixed: "wsstack" in ASCII, so it is recognisable in `pg_locks`.
const LOCK_KEY: i64 = 0x0077_7373_7461_636b;

const META: &str = "
    CREATE SCHEMA IF NOT EXISTS workspace_stack;
    CREATE TABLE IF NOT EXISTS workspace_stack.schema_migrations (
        version      INTEGER PRIMARY KEY,
        name         TEXT NOT NULL,
        checksum     TEXT NOT NULL,
        applied_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
        execution_ms INTEGER NOT NULL
    );";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub version: i32,
    pub name: String,
    pub checksum: String,
    pub applied_at: chrono::DateTime<chrono::Utc>,
}

/// One row of `migrate status`: an embedded migration and, if applied, when.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationStatus {
    pub version: i32,
    pub name: String,
    pub checksum: String,
    pub applied_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Where a database stands relative to this binary's migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    Current,
    /// Migrations are pending (`applied` is 0 for an empty database).
    Behind {
        applied: i32,
        latest: i32,
    },
    /// The database was migrated by a newer binary.
    Ahead {
        applied: i32,
        latest: i32,
    },
}

pub async fn applied(client: &Client) -> anyhow::Result<Vec<Applied>> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('workspace_stack.schema_migrations') IS NOT NULL",
            &[],
        )
        .await?
        .try_get(0)?;
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT version, name, checksum, applied_at
               FROM workspace_stack.schema_migrations ORDER BY version",
            &[],
        )
        .await?;
    let applied = rows
        .iter()
        .map(|r| {
            Ok(Applied {
                version: r.try_get(0)?,
                name: r.try_get(1)?,
                checksum: r.try_get(2)?,
                applied_at: r.try_get(3)?,
            })
        })
        .collect::<Result<_, tokio_postgres::Error>>()?;
    Ok(applied)
}

pub async fn state(client: &Client) -> anyhow::Result<SchemaState> {
    let applied = applied(client).await?;
    let version = applied.last().map_or(0, |a| a.version);
    let latest = latest_version();
    Ok(match version.cmp(&latest) {
        std::cmp::Ordering::Equal => SchemaState::Current,
        std::cmp::Ordering::Less => SchemaState::Behind {
            applied: version,
            latest,
        },
        std::cmp::Ordering::Greater => SchemaState::Ahead {
            applied: version,
            latest,
        },
    })
}

pub async fn status(client: &Client) -> anyhow::Result<Vec<MigrationStatus>> {
    let applied = applied(client).await?;
    Ok(MIGRATIONS
        .iter()
        .map(|m| MigrationStatus {
            version: m.version,
            name: m.name.to_string(),
            checksum: m.checksum(),
            applied_at: applied
                .iter()
                .find(|a| a.version == m.version)
                .map(|a| a.applied_at),
        })
        .collect())
}

/// The migrations `migrate` would apply, after the same history check it makes (an edited or
/// unknown applied migration is an error). Reads only: nothing is created.
pub async fn pending(client: &Client) -> anyhow::Result<Vec<Migration>> {
    let applied = applied(client).await?;
    check_history(&applied, MIGRATIONS)?;
    Ok(MIGRATIONS
        .iter()
        .filter(|m| !applied.iter().any(|a| a.version == m.version))
        .copied()
        .collect())
}

/// `wsctl migrate new NAME`: writes the next `NNNN_name.sql` into `dir` (the source tree's
/// `src/db/migrations`) with a header saying what happens next; the next build embeds it.
pub fn create_file(dir: &std::path::Path, name: &str) -> anyhow::Result<std::path::PathBuf> {
    use super::migration_files::{check_dense, parse_file_name, valid_name};
    let name = name.replace('-', "_");
    if !valid_name(&name) {
        bail!(
            "{name:?} is not a valid migration name: use lowercase letters, digits and '_' \
             (up to 60), starting with a letter, e.g. add_due_dates"
        );
    }
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "no migrations directory at {} — run `wsctl migrate new` in the workspace-stack \
             checkout (it writes to src/db/migrations/) or pass --dir",
            dir.display()
        )
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let file = entry?.file_name().to_string_lossy().into_owned();
        if !file.starts_with('.') {
            let (version, existing) = parse_file_name(&file).map_err(anyhow::Error::msg)?;
            files.push((version, existing.to_string()));
        }
    }
    files.sort();
    check_dense(&files).map_err(anyhow::Error::msg)?;
    let version = files.len() + 1;
    let path = dir.join(format!("{version:04}_{name}.sql"));
    let header = format!(
        "-- Migration {version}: {name}.\n\
         -- Runs once, in one transaction with the row that records it. Once applied anywhere it\n\
         -- must not change (its checksum is recorded): fix a mistake with another migration.\n\
         -- `cargo build` embeds this file; `wsctl migrate --check` tries it on a throwaway copy\n\
         -- of main, `wsctl migrate` applies it after taking a snapshot.\n\n"
    );
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut f, header.as_bytes())?;
    Ok(path)
}

/// Refuses to go on when history and the embedded migrations disagree.
fn check_history(applied: &[Applied], migrations: &[Migration]) -> anyhow::Result<()> {
    for a in applied {
        let Some(m) = migrations.iter().find(|m| m.version == a.version) else {
            bail!(
                "the database has migration {} ({}) which this binary does not know; it was \
                 migrated by a newer workspace-stack — upgrade this binary",
                a.version,
                a.name
            );
        };
        if m.checksum() != a.checksum {
            bail!(
                "migration {} ({}) was changed after it was applied (recorded checksum {}, \
                 embedded {}); applied migrations must never be edited — restore the original \
                 file and add a new migration instead",
                a.version,
                a.name,
                &a.checksum[..12.min(a.checksum.len())],
                &m.checksum()[..12]
            );
        }
    }
    Ok(())
}

/// Applies every pending migration in order and returns the versions applied.
pub async fn migrate(client: &mut Client) -> anyhow::Result<Vec<i32>> {
    migrate_with(client, MIGRATIONS).await
}

/// `migrate` with an explicit list (tests use it to exercise a failing migration).
pub async fn migrate_with(
    client: &mut Client,
    migrations: &[Migration],
) -> anyhow::Result<Vec<i32>> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await
        .context("taking the migration lock")?;
    let result = migrate_locked(client, migrations).await;
    // The lock is released with the session anyway; unlocking here keeps pooled sessions clean.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await;
    result
}

async fn migrate_locked(client: &mut Client, migrations: &[Migration]) -> anyhow::Result<Vec<i32>> {
    client
        .batch_execute(META)
        .await
        .context("creating workspace_stack.schema_migrations")?;
    let applied = applied(client).await?;
    check_history(&applied, migrations)?;
    let mut done = Vec::new();
    for m in migrations
        .iter()
        .filter(|m| !applied.iter().any(|a| a.version == m.version))
    {
        let started = std::time::Instant::now();
        let tx = client.transaction().await?;
        tx.batch_execute(m.sql)
            .await
            .with_context(|| format!("applying migration {} ({})", m.version, m.name))?;
        let ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO workspace_stack.schema_migrations (version, name, checksum, execution_ms)
             VALUES ($1, $2, $3, $4)",
            &[&m.version, &m.name, &m.checksum(), &ms],
        )
        .await?;
        tx.commit()
            .await
            .with_context(|| format!("committing migration {} ({})", m.version, m.name))?;
        tracing::info!(version = m.version, name = m.name, ms, "applied migration");
        done.push(m.version);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file dropped into src/db/migrations/ is embedded without being registered anywhere:
    /// the build's list is exactly the directory, file for file and byte for byte.
    #[test]
    fn the_embedded_list_is_the_migrations_directory() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/db/migrations");
        let mut files: Vec<(i32, String, String)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| !f.starts_with('.'))
            .map(|f| {
                let (v, n) = crate::db::migration_files::parse_file_name(&f).unwrap();
                (
                    v,
                    n.to_string(),
                    std::fs::read_to_string(dir.join(&f)).unwrap(),
                )
            })
            .collect();
        files.sort();
        let embedded: Vec<(i32, String, String)> = MIGRATIONS
            .iter()
            .map(|m| (m.version, m.name.to_string(), m.sql.to_string()))
            .collect();
        assert_eq!(embedded, files);
    }

    #[test]
    fn a_new_migration_file_gets_the_next_number_and_bad_names_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        for m in MIGRATIONS {
            std::fs::write(
                tmp.path().join(format!("{:04}_{}.sql", m.version, m.name)),
                m.sql,
            )
            .unwrap();
        }
        let next = MIGRATIONS.len() + 1;
        let path = create_file(tmp.path(), "add-due-dates").unwrap();
        assert_eq!(
            path.file_name().unwrap().to_string_lossy(),
            format!("{next:04}_add_due_dates.sql")
        );
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("-- Migration"));
        let second = create_file(tmp.path(), "more").unwrap();
        assert!(second.ends_with(format!("{:04}_more.sql", next + 1)));
        let err = create_file(tmp.path(), "Bad Name").unwrap_err().to_string();
        assert!(err.contains("not a valid migration name"), "{err}");
        std::fs::write(tmp.path().join("notes.txt"), "").unwrap();
        let err = create_file(tmp.path(), "x").unwrap_err().to_string();
        assert!(
            err.contains("notes.txt must be named NNNN_name.sql"),
            "{err}"
        );
        let err = create_file(&tmp.path().join("missing"), "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("pass --dir"), "{err}");
    }

    #[test]
    fn gaps_and_duplicates_are_named() {
        use crate::db::migration_files::check_dense;
        let err = check_dense(&[(1, "a".into()), (3, "c".into())]).unwrap_err();
        assert!(
            err.contains("expected migration 0002 next but found 0003_c.sql"),
            "{err}"
        );
        let err = check_dense(&[(1, "a".into()), (1, "b".into())]).unwrap_err();
        assert!(err.contains("found 0001_b.sql"), "{err}");
    }

    #[test]
    fn versions_are_dense_and_ordered() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1);
        }
    }

    #[test]
    fn edited_migration_is_refused_with_a_fix() {
        let applied = vec![Applied {
            version: 1,
            name: "workspace_schema".into(),
            checksum: "0".repeat(64),
            applied_at: chrono::Utc::now(),
        }];
        let err = check_history(&applied, MIGRATIONS).unwrap_err().to_string();
        assert!(err.contains("changed after it was applied"), "{err}");
        assert!(err.contains("add a new migration"), "{err}");
    }
}
