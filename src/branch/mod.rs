//! Branches, snapshots and rollback on the postgres backend.
//!
//! A branch is a database copied from its parent with `CREATE DATABASE … TEMPLATE …`; a
//! snapshot is such a copy that nobody may connect to (so it stays exactly as taken). `main` is
//! the stack's database. What a branch or snapshot is (parent, time, automatic or not, why)
//! is kept in the database's own comment, so the catalogue and the metadata can never
//! disagree, even after a crash half-way.
//!
//! Copying needs the source to have no sessions for an instant: connections are refused
//! (`ALLOW_CONNECTIONS false`), open ones ended, the copy made, connections allowed again —
//! always, even when the copy fails. The API retries acquiring connections meanwhile, so its
//! clients see a short wait, not an error.

pub mod lifecycle;

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

pub const MAIN: &str = "main";
pub const BRANCH_PREFIX: &str = "ws_branch_";
const SNAPSHOT_PREFIX: &str = "ws_snap_";

/// A branch or snapshot name: 1–40 of `[a-z0-9-]`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= 40
            && raw.as_bytes()[0].is_ascii_lowercase()
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            bail!("{raw:?} is not a valid name: use 1–40 lowercase letters, digits and hyphens, starting with a letter");
        }
        Ok(Name(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a database's comment records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub kind: Kind,
    pub name: String,
    /// Branch: the branch it was made from. Snapshot: the branch it was taken of.
    pub parent: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    pub automatic: bool,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Branch,
    Snapshot,
}

/// The database behind a branch (`main` is the stack's own database).
pub fn branch_db(main_db: &str, name: &str) -> String {
    if name == MAIN {
        main_db.to_string()
    } else {
        format!("{BRANCH_PREFIX}{}", name.replace('-', "_"))
    }
}

pub fn snapshot_db(name: &str) -> String {
    format!("{SNAPSHOT_PREFIX}{}", name.replace('-', "_"))
}

/// What the user calls the database `db`, for messages: internal names (`ws_snap_…`) never
/// reach them. Names cannot hold '_', so mapping it back to '-' is exact.
pub fn user_name(db: &str) -> String {
    let base = db.trim_end_matches("_incoming").trim_end_matches("_old");
    let what = if let Some(n) = base.strip_prefix(BRANCH_PREFIX) {
        format!("branch {}", n.replace('_', "-"))
    } else if let Some(n) = base.strip_prefix(SNAPSHOT_PREFIX) {
        format!("snapshot {}", n.replace('_', "-"))
    } else {
        MAIN.to_string()
    };
    if base.len() == db.len() {
        what
    } else {
        format!("a working copy of {what}")
    }
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Every branch and snapshot, from the catalogue and the comments.
pub async fn list(admin: &Client) -> anyhow::Result<Vec<Meta>> {
    let rows = admin
        .query(
            "SELECT d.datname, shobj_description(d.oid, 'pg_database')
               FROM pg_database d
              WHERE d.datname LIKE 'ws\\_branch\\_%' OR d.datname LIKE 'ws\\_snap\\_%'
              ORDER BY 1",
            &[],
        )
        .await?;
    let mut out: Vec<Meta> = rows
        .iter()
        .filter_map(|r| r.get::<_, Option<String>>(1))
        .filter_map(|c| serde_json::from_str(&c).ok())
        .collect();
    out.sort_by_key(|m| m.created_at);
    Ok(out)
}

/// When a database was created: its directory's `PG_VERSION` is written once, by CREATE
/// DATABASE (PostgreSQL keeps no creation time in the catalogue). Needs a superuser, which
/// the stack's admin connection is; `None` if the file cannot be read.
pub async fn database_created_at(
    admin: &Client,
    db: &str,
) -> Option<chrono::DateTime<chrono::Utc>> {
    admin
        .query_opt(
            "SELECT (pg_stat_file('base/' || oid || '/PG_VERSION')).modification
               FROM pg_database WHERE datname = $1",
            &[&db],
        )
        .await
        .ok()
        .flatten()
        .and_then(|r| r.try_get(0).ok())
}

/// When main was made: the cluster's own `PG_VERSION`, written once by initdb when the stack
/// was created. Main's database is replaced by a rollback or a cutover (its directory's
/// `PG_VERSION` is then new), but main as a branch is as old as the stack.
pub async fn main_created_at(admin: &Client) -> Option<chrono::DateTime<chrono::Utc>> {
    admin
        .query_opt("SELECT (pg_stat_file('PG_VERSION')).modification", &[])
        .await
        .ok()
        .flatten()
        .and_then(|r| r.try_get(0).ok())
}

pub async fn exists(admin: &Client, db: &str) -> anyhow::Result<bool> {
    Ok(admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&db])
        .await?
        .is_some())
}

/// Copies `source` to `target` with `meta` as its comment. Sessions on `source` are ended for
/// the instant of the copy; connections to it are allowed again whatever happens.
pub async fn copy_database(
    admin: &Client,
    source: &str,
    target: &str,
    meta: &Meta,
    allow_connections: bool,
) -> anyhow::Result<Duration> {
    if exists(admin, target).await? {
        let kind = format!("{:?}", meta.kind).to_lowercase();
        let name = &meta.name;
        bail!("{kind} {name} already exists — choose another name, or `wsctl {kind} delete {name}` first");
    }
    let started = Instant::now();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS false",
            ident(source)
        ))
        .await?;
    let result = async {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            admin
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                      WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&source],
                )
                .await?;
            match admin
                .batch_execute(&format!(
                    "CREATE DATABASE {} TEMPLATE {} ALLOW_CONNECTIONS {}",
                    ident(target),
                    ident(source),
                    allow_connections
                ))
                .await
            {
                Ok(()) => break,
                // Terminated sessions take a moment to go away.
                Err(e)
                    if Instant::now() < deadline
                        && e.to_string().contains("being accessed by other users") =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => {
                    return Err(anyhow::Error::from(e).context(format!(
                        "copying {} to {}",
                        user_name(source),
                        user_name(target)
                    )))
                }
            }
        }
        anyhow::Ok(())
    }
    .await;
    let reopen = admin
        .batch_execute(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS true",
            ident(source)
        ))
        .await;
    result?;
    reopen?;
    let comment = serde_json::to_string(meta)?.replace('\'', "''");
    admin
        .batch_execute(&format!(
            "COMMENT ON DATABASE {} IS '{comment}'",
            ident(target)
        ))
        .await?;
    Ok(started.elapsed())
}

pub async fn drop_database(admin: &Client, db: &str) -> anyhow::Result<()> {
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            ident(db)
        ))
        .await
        .with_context(|| format!("deleting {}", user_name(db)))
}

/// Replaces `target` with a copy of `source` (used by rollback). The copy is made under
/// another name first and swapped in atomically, so a crash at any point leaves either the
/// old or the new database under `target`, never neither.
pub async fn replace_database(admin: &Client, target: &str, source: &str) -> anyhow::Result<()> {
    let incoming = format!("{target}_incoming");
    drop_database(admin, &incoming).await?;
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE {} ALLOW_CONNECTIONS true",
            ident(&incoming),
            ident(source)
        ))
        .await
        .with_context(|| {
            format!(
                "copying {}; {} was left as it was",
                user_name(source),
                user_name(target)
            )
        })?;
    swap_in(admin, target, &incoming).await
}

/// Makes `incoming` the database called `target` (which must exist) by renaming both in one
/// transaction, then drops the old one. `incoming` is gone afterwards.
pub async fn swap_in(admin: &Client, target: &str, incoming: &str) -> anyhow::Result<()> {
    let aside = format!("{target}_old");
    drop_database(admin, &aside).await?;
    let allow = |db: &str, on: bool| format!("ALTER DATABASE {} ALLOW_CONNECTIONS {on}", ident(db));
    admin.batch_execute(&allow(target, false)).await?;
    let swap = format!(
        "BEGIN; ALTER DATABASE {t} RENAME TO {a}; ALTER DATABASE {i} RENAME TO {t}; \
         COMMENT ON DATABASE {t} IS NULL; COMMIT;",
        t = ident(target),
        a = ident(&aside),
        i = ident(incoming)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for db in [target, incoming] {
            admin
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                      WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&db],
                )
                .await?;
        }
        match admin.batch_execute(&swap).await {
            Ok(()) => break,
            // Terminated sessions take a moment to go away.
            Err(e)
                if Instant::now() < deadline
                    && e.to_string().contains("being accessed by other users") =>
            {
                let _ = admin.batch_execute("ROLLBACK").await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => {
                let _ = admin.batch_execute("ROLLBACK").await;
                let _ = admin.batch_execute(&allow(target, true)).await;
                let target = user_name(target);
                return Err(anyhow::Error::from(e)
                    .context(format!("replacing {target}; {target} was left as it was")));
            }
        }
    }
    drop_database(admin, &aside).await
}

/// A content checksum per table of the workspace schema: row count and an order-independent
/// hash of every row's text, for "is this exactly the data it was" comparisons.
pub async fn checksums(client: &Client) -> anyhow::Result<Vec<(String, i64, String)>> {
    let tables = crate::db::workspace_tables(client).await?;
    let mut out = Vec::new();
    for t in tables {
        let row = client
            .query_one(
                &format!(
                    "SELECT count(*), coalesce(md5(string_agg(h, '' ORDER BY h)), '')
                       FROM (SELECT md5(x::text) AS h FROM workspace.{} x) s",
                    ident(&t)
                ),
                &[],
            )
            .await?;
        out.push((t, row.get(0), row.get(1)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_and_map_to_distinct_databases() {
        assert!(Name::parse("feature-1").is_ok());
        for bad in ["", "1abc", "Main", "a_b", "a b", &"a".repeat(41), "x;drop"] {
            assert!(Name::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(branch_db("workspace", "main"), "workspace");
        assert_eq!(branch_db("workspace", "feat-x"), "ws_branch_feat_x");
        assert_eq!(snapshot_db("before-migrate"), "ws_snap_before_migrate");
        assert_eq!(
            user_name("ws_snap_before_migrate"),
            "snapshot before-migrate"
        );
        assert_eq!(user_name("ws_branch_feat_x"), "branch feat-x");
        assert_eq!(user_name("workspace_incoming"), "a working copy of main");
    }
}

pub fn auto_name(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        chrono::Utc::now().format("%Y%m%d-%H%M%S-%3f")
    )
}

/// Takes a snapshot of `branch` (whose database is `source_db`).
pub async fn snapshot(
    admin: &Client,
    source_db: &str,
    branch: &str,
    name: Option<Name>,
    automatic: bool,
    reason: Option<String>,
) -> anyhow::Result<(Meta, Duration)> {
    let name = match name {
        Some(n) => n.as_str().to_string(),
        None => auto_name(if automatic { "auto" } else { "snap" }),
    };
    let meta = Meta {
        kind: Kind::Snapshot,
        name: name.clone(),
        parent: branch.to_string(),
        created_at: chrono::Utc::now(),
        automatic,
        reason,
    };
    let took = copy_database(admin, source_db, &snapshot_db(&name), &meta, false).await?;
    Ok((meta, took))
}

/// What a rollback did.
pub struct Rollback {
    pub restored: Meta,
    /// The state just before, kept so that the rollback can itself be undone.
    pub before: Meta,
    pub took: Duration,
}

/// Restores `main_db` to a snapshot of main: the named one, else the newest automatic one.
pub async fn rollback(admin: &Client, main_db: &str, to: Option<Name>) -> anyhow::Result<Rollback> {
    let all = list(admin).await?;
    let mut snapshots = all
        .iter()
        .filter(|m| m.kind == Kind::Snapshot && m.parent == MAIN);
    let target = match &to {
        Some(n) => snapshots
            .clone()
            .find(|m| m.name == n.as_str())
            .with_context(|| {
                format!(
                    "no snapshot of main named {} — see `wsctl snapshot list`",
                    n.as_str()
                )
            })?,
        None => snapshots
            .rfind(|m| m.automatic)
            .context("there is no automatic snapshot of main to roll back to — pass --to NAME")?,
    }
    .clone();
    let started = Instant::now();
    let (before, _) = snapshot(
        admin,
        main_db,
        MAIN,
        None,
        true,
        Some(format!("before rollback to {}", target.name)),
    )
    .await?;
    replace_database(admin, main_db, &snapshot_db(&target.name)).await?;
    Ok(Rollback {
        restored: target,
        before,
        took: started.elapsed(),
    })
}

/// What `migrate` did.
#[derive(Debug)]
pub struct MigrateOutcome {
    pub snapshot: Meta,
    pub applied: Vec<i32>,
    /// Set when a migration failed and main was restored from the snapshot.
    pub rolled_back_after: Option<String>,
}

/// Snapshot main, apply pending migrations; on failure restore main from the snapshot, so it
/// is exactly as it was.
pub async fn safe_migrate(
    admin: &Client,
    main_config: &tokio_postgres::Config,
    main_db: &str,
    migrations: &[crate::db::migrations::Migration],
) -> anyhow::Result<MigrateOutcome> {
    let (snap, _) = snapshot(
        admin,
        main_db,
        MAIN,
        None,
        true,
        Some("before migrate".into()),
    )
    .await?;
    let result = async {
        let mut client = crate::db::connect(main_config).await?;
        crate::db::migrations::migrate_with(&mut client, migrations).await
    }
    .await;
    match result {
        Ok(applied) => Ok(MigrateOutcome {
            snapshot: snap,
            applied,
            rolled_back_after: None,
        }),
        Err(e) => {
            replace_database(admin, main_db, &snapshot_db(&snap.name))
                .await
                .context("the migration failed AND restoring main from the snapshot failed")?;
            Ok(MigrateOutcome {
                snapshot: snap,
                applied: Vec::new(),
                rolled_back_after: Some(format!("{e:#}")),
            })
        }
    }
}
