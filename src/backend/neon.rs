//! The neon backend. Every branch, snapshot and rollback is a timeline operation on the
//! pageserver: a branch is a child timeline with a compute of its own, a snapshot a child
//! timeline nothing writes to, and a rollback points main at a new child of a snapshot.
//! Nothing is copied, so none of these grows with the size of the database.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::{
    ensure_deletable, remove_preview, Backend, Branches, Counts, Created, MigrateCheck, Snap,
};
use crate::branch::{self, Kind, Meta, MigrateOutcome, Name, Rollback, MAIN};
use crate::db::migrations;
use crate::stack::connection::pg_config_on;
use crate::stack::control::{reload_supervisor, wait_service};
use crate::stack::neon::{self, NeonBranch, NeonSnapshot, NeonState, Pageserver};
use crate::stack::neon_auth;
use crate::stack::state::{BackendKind, StackState, StateDir, StateLock};

/// A running neon stack, its state and its pageserver.
pub struct Neon<'a> {
    dir: &'a StateDir,
    state: StackState,
    /// state.json's lock, when opened for change.
    lock: Option<StateLock>,
    n: NeonState,
    ps: Pageserver,
}

impl<'a> Neon<'a> {
    pub fn open(
        dir: &'a StateDir,
        state: StackState,
        lock: Option<StateLock>,
    ) -> anyhow::Result<Neon<'a>> {
        let n = state
            .neon
            .clone()
            .context("state.json has no neon section")?;
        let token = neon_auth::token(dir, None, neon_auth::Scope::PageServerApi)?;
        let ps = Pageserver::new(n.pageserver_http_port).with_token(token);
        Ok(Neon {
            dir,
            state,
            lock,
            n,
            ps,
        })
    }

    /// Records the change in state.json and has the supervisor act on it.
    fn commit(&mut self) -> anyhow::Result<()> {
        self.state.neon = Some(self.n.clone());
        self.dir.save(&self.state, super::held(&self.lock)?)?;
        reload_supervisor(self.dir)
    }

    fn port_of(&self, branch: &str) -> Option<u16> {
        if branch == MAIN {
            Some(self.state.pg_port)
        } else {
            self.n
                .branches
                .iter()
                .find(|x| x.name == branch)
                .map(|x| x.pg_port)
        }
    }

    async fn client(&self, branch: &str, db: &str) -> anyhow::Result<tokio_postgres::Client> {
        let port = self
            .port_of(branch)
            .with_context(|| format!("no branch named {branch}"))?;
        crate::db::connect(&pg_config_on(self.dir, &self.state, db, port)?).await
    }

    /// The branch's latest flushed LSN: a child made there contains every commit so far
    /// (the pageserver waits until it has received that WAL).
    async fn flush_lsn(&self, branch: &str) -> anyhow::Result<String> {
        Ok(self
            .client(branch, "postgres")
            .await?
            .query_one("SELECT pg_current_wal_flush_lsn()::text", &[])
            .await?
            .get(0))
    }

    /// Creates a branch with its compute and waits until the compute runs.
    async fn new_branch(
        &mut self,
        name: &Name,
        from: &str,
        at: Option<String>,
    ) -> anyhow::Result<NeonBranch> {
        if self.n.timeline_of(name.as_str()).is_some() {
            bail!("branch {} already exists", name.as_str());
        }
        let parent = self
            .n
            .timeline_of(from)
            .with_context(|| format!("no branch named {from} — see `wsctl branch list`"))?
            .to_string();
        let lsn = match at {
            Some(x) if neon::is_lsn(&x) => x,
            Some(x) => {
                let at = self
                    .ps
                    .lsn_by_timestamp(&self.n.tenant_id, &parent, &x)
                    .await
                    .with_context(|| format!("branch {} --at {x}", name.as_str()))?;
                if at.kind == neon::LsnKind::Future {
                    tracing::info!(
                        "every commit on {from} is older than {x}: the branch has all of it up to {}",
                        at.lsn
                    );
                }
                at.lsn
            }
            None => self.flush_lsn(from).await?,
        };
        let timeline = neon::generate_id();
        self.ps
            .create_timeline(&self.n.tenant_id, &timeline, Some((&parent, Some(&lsn))))
            .await?;
        let free = crate::stack::ports::free_port;
        let b = NeonBranch {
            name: name.as_str().to_string(),
            parent: from.to_string(),
            timeline_id: timeline,
            lsn,
            pg_port: free()?,
            http_port: free()?,
            internal_port: free()?,
            created_at: chrono::Utc::now(),
        };
        self.n.branches.push(b.clone());
        self.commit()?;
        // The supervisor (or, for containers, the engine's healthcheck) reports the service
        // first; then the compute itself must answer on the new timeline.
        let service = format!("compute-{}", name.as_str());
        wait_service(self.dir, &service, true, Duration::from_secs(90)).await?;
        self.wait_compute(name.as_str(), &b.timeline_id).await?;
        Ok(b)
    }

    /// Stops the branch's preview API and compute, then deletes its timeline everywhere.
    async fn remove_branch(&mut self, name: &str) -> anyhow::Result<NeonBranch> {
        if name == MAIN {
            bail!("main cannot be deleted");
        }
        let Some(b) = self.n.branches.iter().find(|b| b.name == name).cloned() else {
            bail!("no branch named {name}");
        };
        let children = self
            .n
            .branches
            .iter()
            .filter(|c| c.parent == name)
            .map(|c| c.name.as_str());
        ensure_deletable(&self.state, name, children)?;
        remove_preview(self.dir, &mut self.state, super::held(&self.lock)?, name).await?;
        self.n.branches.retain(|x| x.name != name);
        self.commit()?;
        let service = format!("compute-{name}");
        wait_service(self.dir, &service, false, Duration::from_secs(30)).await?;
        self.delete_timeline(&b.timeline_id).await?;
        Ok(b)
    }

    /// On the pageserver first (it refuses while children exist), then on every safekeeper.
    async fn delete_timeline(&self, timeline: &str) -> anyhow::Result<()> {
        self.ps.delete_timeline(&self.n.tenant_id, timeline).await?;
        let token = neon_auth::token(self.dir, None, neon_auth::Scope::SafekeeperData)?;
        for k in 1..=self.n.safekeepers {
            let port = self.n.safekeeper_http_port + u16::from(k) - 1;
            neon::safekeeper_delete(port, &token, &self.n.tenant_id, timeline).await?;
        }
        Ok(())
    }

    /// A snapshot of main: a child timeline at main's flush LSN, with no compute.
    async fn take_snapshot(
        &mut self,
        name: Option<Name>,
        automatic: bool,
        reason: Option<String>,
    ) -> anyhow::Result<(Meta, Duration)> {
        let started = Instant::now();
        let name = match name {
            Some(n) => n.as_str().to_string(),
            None => branch::auto_name(if automatic { "auto" } else { "snap" }),
        };
        if self.n.snapshots.iter().any(|s| s.meta.name == name) {
            bail!("snapshot {name} already exists");
        }
        let lsn = self.flush_lsn(MAIN).await?;
        let timeline = neon::generate_id();
        let parent = self.n.timeline_id.clone();
        self.ps
            .create_timeline(&self.n.tenant_id, &timeline, Some((&parent, Some(&lsn))))
            .await?;
        let meta = Meta {
            kind: Kind::Snapshot,
            name,
            parent: MAIN.into(),
            created_at: chrono::Utc::now(),
            automatic,
            reason,
        };
        self.n.snapshots.push(NeonSnapshot {
            meta: meta.clone(),
            timeline_id: timeline,
            lsn,
        });
        self.commit()?;
        Ok((meta, started.elapsed()))
    }

    async fn remove_snapshot(&mut self, name: &str) -> anyhow::Result<()> {
        let Some(s) = self
            .n
            .snapshots
            .iter()
            .find(|s| s.meta.name == name)
            .cloned()
        else {
            bail!("no snapshot named {name} — see `wsctl snapshot list`");
        };
        if let Err(e) = self.delete_timeline(&s.timeline_id).await {
            if let Some(neon::DeleteRefused::HasChildren { .. }) = e.downcast_ref() {
                return Err(e.context(format!(
                    "snapshot {name} is the base of another timeline (main after a rollback, or a \
                     later snapshot); Neon keeps it while that timeline exists"
                )));
            }
            return Err(e.context(format!("deleting snapshot {name}")));
        }
        self.n.snapshots.retain(|x| x.meta.name != name);
        self.commit()
    }

    /// Main continues on `timeline`; its old timeline is kept as an automatic snapshot, so the
    /// move can be undone. `retire` is a branch whose compute served `timeline` until now.
    async fn promote(
        &mut self,
        timeline: String,
        retire: Option<&str>,
        reason: String,
    ) -> anyhow::Result<Meta> {
        let lsn = self.flush_lsn(MAIN).await?;
        let before = Meta {
            kind: Kind::Snapshot,
            name: branch::auto_name("auto"),
            parent: MAIN.into(),
            created_at: chrono::Utc::now(),
            automatic: true,
            reason: Some(reason),
        };
        let old = std::mem::replace(&mut self.n.timeline_id, timeline.clone());
        self.n.snapshots.push(NeonSnapshot {
            meta: before.clone(),
            timeline_id: old,
            lsn,
        });
        if let Some(b) = retire {
            self.n.branches.retain(|x| x.name != b);
        }
        self.commit()?;
        self.wait_compute(MAIN, &timeline).await?;
        // And until the supervisor (or the engine's healthcheck) reports it again.
        wait_service(self.dir, "compute", true, Duration::from_secs(90)).await?;
        Ok(before)
    }

    /// Waits until the branch's compute runs on `timeline` and accepts connections.
    async fn wait_compute(&self, branch: &str, timeline: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(c) = self.client(branch, "postgres").await {
                if let Ok(row) = c.query_one("SHOW neon.timeline_id", &[]).await {
                    if row.get::<_, String>(0) == timeline {
                        return Ok(());
                    }
                }
            }
            if Instant::now() > deadline {
                let service = if branch == MAIN {
                    "compute".to_string()
                } else {
                    format!("compute-{branch}")
                };
                bail!("the compute of {branch} did not start on timeline {timeline} — see `wsctl logs {service}`");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Main restarts on a new child of the snapshot (the named one, else the newest
    /// automatic one); the timeline it leaves becomes the pre-rollback snapshot.
    async fn roll_back(&mut self, to: Option<Name>) -> anyhow::Result<branch::Rollback> {
        let target = match &to {
            Some(n) => self.n.snapshots.iter().find(|s| s.meta.name == n.as_str()),
            None => self.n.snapshots.iter().rfind(|s| s.meta.automatic),
        }
        .cloned()
        .with_context(|| match &to {
            Some(n) => format!(
                "no snapshot named {} — see `wsctl snapshot list`",
                n.as_str()
            ),
            None => {
                "there is no automatic snapshot of main to roll back to — pass --to NAME".into()
            }
        })?;
        let started = Instant::now();
        // The snapshot's own tip: nothing was written after it was made.
        let info = self
            .ps
            .timeline(&self.n.tenant_id, &target.timeline_id)
            .await?
            .with_context(|| {
                format!(
                    "the pageserver has no timeline {} for snapshot {}",
                    target.timeline_id, target.meta.name
                )
            })?;
        let tip = info["last_record_lsn"]
            .as_str()
            .context("timeline info has no last_record_lsn")?
            .to_string();
        let new = neon::generate_id();
        self.ps
            .create_timeline(
                &self.n.tenant_id,
                &new,
                Some((&target.timeline_id, Some(&tip))),
            )
            .await?;
        let reason = format!("before rollback to {}", target.meta.name);
        let before = self.promote(new, None, reason).await?;
        Ok(branch::Rollback {
            restored: target.meta,
            before,
            took: started.elapsed(),
        })
    }
}

#[async_trait::async_trait]
impl Backend for Neon<'_> {
    fn kind(&self) -> BackendKind {
        BackendKind::Neon
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
        Ok(Branches::Timelines {
            main_timeline: self.n.timeline_id.clone(),
            main_port: self.state.pg_port,
            branches: self.n.branches.clone(),
        })
    }

    async fn has_branch(&mut self, name: &str) -> anyhow::Result<bool> {
        Ok(self.n.timeline_of(name).is_some())
    }

    async fn create_branch(
        &mut self,
        name: &str,
        from: &str,
        at: Option<String>,
    ) -> anyhow::Result<Created> {
        let name = Name::parse(name)?;
        let started = Instant::now();
        let b = self.new_branch(&name, from, at).await?;
        Ok(Created {
            name: b.name.clone(),
            took: started.elapsed(),
            timeline: Some(b),
        })
    }

    async fn delete_branch(&mut self, name: &str) -> anyhow::Result<Option<String>> {
        Ok(Some(self.remove_branch(name).await?.timeline_id))
    }

    async fn snapshots(&mut self) -> anyhow::Result<Vec<Meta>> {
        Ok(self.n.snapshots.iter().map(|s| s.meta.clone()).collect())
    }

    async fn snapshot(&mut self, name: Option<Name>) -> anyhow::Result<Snap> {
        let (meta, took) = self.take_snapshot(name, false, None).await?;
        Ok(Snap {
            meta,
            took,
            timeline: self.n.snapshots.last().map(|s| s.timeline_id.clone()),
        })
    }

    async fn delete_snapshot(&mut self, name: &str) -> anyhow::Result<()> {
        self.remove_snapshot(name).await
    }

    async fn counts(&self) -> anyhow::Result<Counts> {
        branch::checksums(&self.client(MAIN, &self.state.database).await?).await
    }

    async fn rollback(&mut self, to: Option<Name>) -> anyhow::Result<Rollback> {
        self.roll_back(to).await
    }

    async fn migrate_check(&mut self) -> anyhow::Result<MigrateCheck> {
        let db = self.state.database.clone();
        let name = Name::parse(&branch::auto_name("migrate-check"))?;
        self.new_branch(&name, MAIN, None).await?;
        let result = async {
            let mut client = self.client(name.as_str(), &db).await?;
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
        self.remove_branch(name.as_str()).await?;
        result
    }

    async fn migrate(&mut self) -> anyhow::Result<MigrateOutcome> {
        let db = self.state.database.clone();
        let (snapshot, _) = self
            .take_snapshot(None, true, Some("before migrate".into()))
            .await?;
        let result = async {
            let mut client = self.client(MAIN, &db).await?;
            migrations::migrate(&mut client).await
        }
        .await;
        match result {
            Ok(applied) => Ok(MigrateOutcome {
                snapshot,
                applied,
                rolled_back_after: None,
            }),
            Err(e) => {
                self.undo_migrate(&snapshot).await?;
                Ok(MigrateOutcome {
                    snapshot,
                    applied: Vec::new(),
                    rolled_back_after: Some(format!("{e:#}")),
                })
            }
        }
    }

    async fn undo_migrate(&mut self, snapshot: &Meta) -> anyhow::Result<()> {
        self.roll_back(Some(Name::parse(&snapshot.name)?))
            .await
            .context("the migration failed AND restoring main from the snapshot failed")?;
        Ok(())
    }

    async fn import_target(
        &mut self,
        name: &Name,
        _source: &str,
    ) -> anyhow::Result<tokio_postgres::Config> {
        let b = self.new_branch(name, MAIN, None).await?;
        pg_config_on(self.dir, &self.state, &self.state.database, b.pg_port)
    }

    async fn drop_import(&mut self, name: &str) -> anyhow::Result<()> {
        if self.n.timeline_of(name).is_some() {
            self.remove_branch(name).await?;
        }
        Ok(())
    }

    async fn cutover(&mut self, name: &str, source: &str) -> anyhow::Result<String> {
        let reason = format!("before import from {source}");
        let timeline = self
            .n
            .timeline_of(name)
            .context("the import branch is gone")?
            .to_string();
        Ok(self.promote(timeline, Some(name), reason).await?.name)
    }
}
