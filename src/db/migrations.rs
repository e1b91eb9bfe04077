//! Versioned SQL migrations, embedded in the binary.
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

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "workspace_schema",
        sql: include_str!("migrations/0001_workspace_schema.sql"),
    },
    Migration {
        version: 2,
        name: "search_and_category_style",
        sql: include_str!("migrations/0002_search_and_category_style.sql"),
    },
    Migration {
        version: 3,
        name: "gin_without_pending_list",
        sql: include_str!("migrations/0003_gin_without_pending_list.sql"),
    },
];

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
