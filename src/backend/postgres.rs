//! The postgres backend: main is the stack's database; a branch or snapshot is a copy of it
//! made with `CREATE DATABASE … TEMPLATE` (see `crate::branch`), described by a comment on
//! the database.

use anyhow::bail;

use super::{
    ensure_deletable, remove_preview, Backend, Branches, Counts, Created, MigrateCheck, Snap,
};
use crate::branch::{self, Kind, Meta, MigrateOutcome, Name, Rollback, MAIN};
use crate::db::migrations;
use crate::stack::connection::pg_config;
use crate::stack::state::{BackendKind, StackState, StateDir, StateLock};

/// A running postgres stack and an admin connection to its cluster.
pub struct Postgres<'a> {
    dir: &'a StateDir,
    state: StackState,
    /// state.json's lock, when opened for change.
    lock: Option<StateLock>,
    admin: tokio_postgres::Client,
}

impl<'a> Postgres<'a> {
    pub async fn open(
        dir: &'a StateDir,
        state: StackState,
        lock: Option<StateLock>,
    ) -> anyhow::Result<Postgres<'a>> {
        let admin = crate::db::connect(&pg_config(dir, &state, "postgres")?).await?;
        Ok(Postgres {
            dir,
            state,
            lock,
            admin,
        })
    }

    /// Main and the branches (not the snapshots) that exist.
    async fn branch_metas(&self) -> anyhow::Result<Vec<Meta>> {
        Ok(branch::list(&self.admin)
            .await?
            .into_iter()
            .filter(|m| m.kind == Kind::Branch)
            .collect())
    }
}

fn is_branch(all: &[Meta], name: &str) -> bool {
    name == MAIN || all.iter().any(|m| m.name == name)
}

#[async_trait::async_trait]
impl Backend for Postgres<'_> {
    fn kind(&self) -> BackendKind {
        BackendKind::Postgres
    }

    fn state(&self) -> &StackState {
        &self.state
    }

    fn state_mut(&mut self) -> &mut StackState {
        &mut self.state
    }

    fn lock(&self) -> anyhow::Result<&StateLock> {
        super::held(&self.lock)
    }

    async fn branches(&mut self) -> anyhow::Result<Branches> {
        let all = self.branch_metas().await?;
        let mut branches = vec![Meta {
            kind: Kind::Branch,
            name: MAIN.into(),
            parent: String::new(),
            created_at: match branch::main_created_at(&self.admin).await {
                Some(t) => t,
                None => branch::database_created_at(&self.admin, &self.state.database)
                    .await
                    .unwrap_or(chrono::DateTime::UNIX_EPOCH),
            },
            automatic: false,
            reason: Some("the stack's database".into()),
        }];
        branches.extend(all);
        Ok(Branches::Copies(branches))
    }

    async fn has_branch(&mut self, name: &str) -> anyhow::Result<bool> {
        Ok(is_branch(&self.branch_metas().await?, name))
    }

    async fn create_branch(
        &mut self,
        name: &str,
        from: &str,
        at: Option<String>,
    ) -> anyhow::Result<Created> {
        let all = self.branch_metas().await?;
        if at.is_some() {
            bail!("point-in-time branches (--at) need the neon backend; the postgres backend can only copy a branch as it is now");
        }
        let name = Name::parse(name)?;
        if name.as_str() == MAIN || is_branch(&all, name.as_str()) {
            bail!("branch {} already exists", name.as_str());
        }
        if !is_branch(&all, from) {
            bail!("no branch named {from} — see `wsctl branch list`");
        }
        let meta = Meta {
            kind: Kind::Branch,
            name: name.as_str().to_string(),
            parent: from.to_string(),
            created_at: chrono::Utc::now(),
            automatic: false,
            reason: None,
        };
        let took = branch::copy_database(
            &self.admin,
            &branch::branch_db(&self.state.database, from),
            &branch::branch_db(&self.state.database, name.as_str()),
            &meta,
            true,
        )
        .await?;
        Ok(Created {
            name: name.as_str().to_string(),
            took,
            timeline: None,
        })
    }

    async fn delete_branch(&mut self, name: &str) -> anyhow::Result<Option<String>> {
        let all = self.branch_metas().await?;
        if name == MAIN {
            bail!("main cannot be deleted");
        }
        if !is_branch(&all, name) {
            bail!("no branch named {name}");
        }
        let children = all
            .iter()
            .filter(|m| m.parent == name)
            .map(|m| m.name.as_str());
        ensure_deletable(&self.state, name, children)?;
        remove_preview(self.dir, &mut self.state, super::held(&self.lock)?, name).await?;
        branch::drop_database(&self.admin, &branch::branch_db(&self.state.database, name)).await?;
        Ok(None)
    }

    async fn snapshots(&mut self) -> anyhow::Result<Vec<Meta>> {
        Ok(branch::list(&self.admin)
            .await?
            .into_iter()
            .filter(|m| m.kind == Kind::Snapshot)
            .collect())
    }

    async fn snapshot(&mut self, name: Option<Name>) -> anyhow::Result<Snap> {
        let (meta, took) =
            branch::snapshot(&self.admin, &self.state.database, MAIN, name, false, None).await?;
        Ok(Snap {
            meta,
            took,
            timeline: None,
        })
    }

    async fn delete_snapshot(&mut self, name: &str) -> anyhow::Result<()> {
        let exists = branch::list(&self.admin)
            .await?
            .iter()
            .any(|m| m.kind == Kind::Snapshot && m.name == name);
        if !exists {
            bail!("no snapshot named {name}");
        }
        branch::drop_database(&self.admin, &branch::snapshot_db(name)).await
    }

    async fn counts(&self) -> anyhow::Result<Counts> {
        let client =
            crate::db::connect(&pg_config(self.dir, &self.state, &self.state.database)?).await?;
        branch::checksums(&client).await
    }

    async fn rollback(&mut self, to: Option<Name>) -> anyhow::Result<Rollback> {
        branch::rollback(&self.admin, &self.state.database, to).await
    }

    async fn migrate_check(&mut self) -> anyhow::Result<MigrateCheck> {
        let name = format!(
            "migrate-check-{}",
            chrono::Utc::now().format("%Y%m%d%H%M%S")
        );
        let meta = Meta {
            kind: Kind::Branch,
            name: name.clone(),
            parent: MAIN.into(),
            created_at: chrono::Utc::now(),
            automatic: true,
            reason: Some("migrate --check".into()),
        };
        let db = branch::branch_db(&self.state.database, &name);
        branch::copy_database(&self.admin, &self.state.database, &db, &meta, true).await?;
        let result = async {
            let mut client = crate::db::connect(&pg_config(self.dir, &self.state, &db)?).await?;
            let applied = migrations::migrate(&mut client).await?;
            let current = migrations::state(&client).await? == migrations::SchemaState::Current;
            let counts = branch::checksums(&client).await?;
            anyhow::Ok(MigrateCheck {
                applied,
                current,
                counts,
            })
        }
        .await;
        branch::drop_database(&self.admin, &db).await?;
        result
    }

    async fn migrate(&mut self) -> anyhow::Result<MigrateOutcome> {
        let main = pg_config(self.dir, &self.state, &self.state.database)?;
        branch::safe_migrate(
            &self.admin,
            &main,
            &self.state.database,
            migrations::MIGRATIONS,
        )
        .await
    }

    async fn undo_migrate(&mut self, snapshot: &Meta) -> anyhow::Result<()> {
        branch::replace_database(
            &self.admin,
            &self.state.database,
            &branch::snapshot_db(&snapshot.name),
        )
        .await
    }

    async fn import_target(
        &mut self,
        name: &Name,
        source: &str,
    ) -> anyhow::Result<tokio_postgres::Config> {
        let db = branch::branch_db(&self.state.database, name.as_str());
        let meta = Meta {
            kind: Kind::Branch,
            name: name.as_str().to_string(),
            parent: MAIN.into(),
            created_at: chrono::Utc::now(),
            automatic: true,
            reason: Some(format!("import from {source}")),
        };
        branch::copy_database(&self.admin, &self.state.database, &db, &meta, true).await?;
        pg_config(self.dir, &self.state, &db)
    }

    async fn drop_import(&mut self, name: &str) -> anyhow::Result<()> {
        branch::drop_database(&self.admin, &branch::branch_db(&self.state.database, name)).await
    }

    async fn cutover(&mut self, name: &str, source: &str) -> anyhow::Result<String> {
        let reason = format!("before import from {source}");
        let (snap, _) = branch::snapshot(
            &self.admin,
            &self.state.database,
            MAIN,
            None,
            true,
            Some(reason),
        )
        .await?;
        let db = branch::branch_db(&self.state.database, name);
        branch::swap_in(&self.admin, &self.state.database, &db).await?;
        Ok(snap.name)
    }
}
