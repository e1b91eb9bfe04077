//! The watcher process that holds the stack's lock while the compose project is up, and the
//! steps it runs: ordered start, migrations, status mirroring, API re-creation, shutdown.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use super::host_console::HostConsole;
use crate::stack::containers::*;
use crate::stack::hold::{Hold, Holder};
use crate::stack::state::{ServiceStatus, StackState, StateDir};

/// The watcher: holds the lock while the project is up (see the module comment).
pub struct Watcher {
    dir: StateDir,
    state: StackState,
    c: ContainerState,
    hold: Hold,
    console: HostConsole,
}

impl Watcher {
    pub fn new(dir: StateDir, state: StackState) -> anyhow::Result<Self> {
        let c = state
            .containers
            .clone()
            .context("state.json has no containers section")?;
        let hold = Hold::take(&dir)?;
        Ok(Watcher {
            dir,
            state,
            c,
            hold,
            console: HostConsole::default(),
        })
    }

    /// Brings the project up and watches it until a stop signal (`stack::hold::run`).
    pub async fn run(self) -> anyhow::Result<()> {
        crate::stack::hold::run(self).await
    }

    /// Mirrors the containers into status.json under the native service names.
    fn refresh(&mut self) {
        match self.c.containers() {
            Ok(list) => {
                self.hold.status.services = list
                    .iter()
                    .filter(|x| !x.service.is_empty())
                    .map(|x| ServiceStatus {
                        name: native_service(&x.service),
                        pid: x.pid.filter(|_| x.state == "running"),
                        restarts: x.restarts,
                        last_exit: (x.exit_code != 0)
                            .then(|| format!("exit status: {}", x.exit_code)),
                        log: self.dir.log("supervisor"),
                        down_since: None,
                    })
                    .collect();
                self.hold.status.services.extend(self.console.status());
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "could not list containers"),
        }
        self.hold.save(&self.dir);
    }

    /// Waits until every service in `services` (compose names) has a ready container.
    async fn wait_ready(&mut self, services: &[String]) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let list = self.c.containers()?;
            let pending: Vec<String> = services
                .iter()
                .filter(|s| !list.iter().any(|x| &x.service == *s && x.ready()))
                .cloned()
                .collect();
            if pending.is_empty() {
                self.refresh();
                return Ok(());
            }
            for s in &pending {
                if let Some(x) = list.iter().find(|x| &x.service == s) {
                    if x.health.as_deref() == Some("unhealthy") || x.state == "exited" {
                        bail!(
                            "{s} is {} — see `wsctl logs {}`",
                            x.describe(),
                            native_service(s)
                        );
                    }
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "not ready within {} s: {} — see `wsctl logs`",
                    READY_TIMEOUT.as_secs(),
                    pending.join(", ")
                );
            }
            // status.json shows new containers only once they are healthy: `branch switch`
            // takes a new API pid there as the sign that the switch is done.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn up(&mut self, services: &[String]) -> anyhow::Result<()> {
        let mut args = vec!["up", "-d", "--no-build"];
        args.extend(services.iter().map(String::as_str));
        self.c.compose(&self.dir, &self.state, &args)?;
        self.wait_ready(services).await
    }

    async fn start(&mut self) -> anyhow::Result<()> {
        write_files(&self.dir, &self.state)?;
        match self.state.neon.clone() {
            None => self.up(&["postgres".into()]).await?,
            Some(n) => self.start_neon_storage(&n).await?,
        }
        let admin = crate::stack::connection::pg_config(&self.dir, &self.state, "postgres")?;
        crate::stack::postgres::wait_ready(&admin, Duration::from_secs(60)).await?;
        prepare_database(&self.dir, &self.state).await?;
        self.up_all().await?;
        self.console.start(&self.dir, &self.state).await
    }

    /// Every service the state asks for, and none it no longer does.
    async fn up_all(&mut self) -> anyhow::Result<()> {
        self.c.compose(
            &self.dir,
            &self.state,
            &["up", "-d", "--no-build", "--remove-orphans"],
        )?;
        let all: Vec<String> = expected_services(&self.state)
            .iter()
            .map(|s| compose_service(s))
            .collect();
        self.wait_ready(&all).await
    }

    /// Broker, upcall answerer, safekeepers and pageserver; then the tenant and timeline over
    /// the pageserver's published API; then main's compute.
    async fn start_neon_storage(
        &mut self,
        n: &crate::stack::neon::NeonState,
    ) -> anyhow::Result<()> {
        let mut storage = vec!["storage-broker".to_string(), "upcall".into()];
        storage.extend((1..=n.safekeepers).map(|k| format!("safekeeper-{k}")));
        storage.push("pageserver".into());
        self.up(&storage).await?;
        let token = crate::stack::neon_auth::token(
            &self.dir,
            None,
            crate::stack::neon_auth::Scope::PageServerApi,
        )?;
        let ps = crate::stack::neon::Pageserver::new(n.pageserver_http_port).with_token(token);
        let upcall_token = self.dir.read_secret("upcall-token")?;
        ps.ensure_attached(
            &n.tenant_id,
            || attach_generation(n.upcall_port, &upcall_token, &n.tenant_id),
            READY_TIMEOUT,
        )
        .await
        .context("see `wsctl logs pageserver`")?;
        if ps.timeline(&n.tenant_id, &n.timeline_id).await?.is_none() {
            ps.create_timeline(&n.tenant_id, &n.timeline_id, None)
                .await?;
        }
        self.up(&["compute".into()]).await
    }

    /// SIGHUP: state.json changed (active branch, previews, Neon branches).
    async fn reload(&mut self) -> anyhow::Result<()> {
        let timeline = |s: &StackState| s.neon.as_ref().map(|n| n.timeline_id.clone());
        let before = timeline(&self.state);
        if let Some(state) = self.dir.load()? {
            self.state = state;
        }
        write_files(&self.dir, &self.state)?;
        self.up_all().await?;
        // A rollback or an import cutover moved main to another timeline: only the mounted
        // spec changed, which compose does not notice, so main's compute is re-created.
        if timeline(&self.state) != before {
            self.c.compose(
                &self.dir,
                &self.state,
                &[
                    "up",
                    "-d",
                    "--no-build",
                    "--no-deps",
                    "--force-recreate",
                    "compute",
                ],
            )?;
            self.wait_ready(&["compute".into()]).await?;
        }
        tracing::info!(database = %self.state.api_database(), "containers match state.json");
        Ok(())
    }
}

#[async_trait::async_trait]
impl Holder for Watcher {
    fn hold(&mut self) -> &mut Hold {
        &mut self.hold
    }
    fn dir(&self) -> &StateDir {
        &self.dir
    }
    fn mirror(&mut self) {
        self.refresh();
    }
    async fn start(&mut self) -> anyhow::Result<()> {
        Watcher::start(self).await
    }
    /// `compose down`; the volumes stay.
    async fn stop(&mut self) -> anyhow::Result<()> {
        self.console.stop().await;
        self.c
            .compose(&self.dir, &self.state, &["down", "--remove-orphans"])
    }
    async fn reload(&mut self) -> anyhow::Result<()> {
        Watcher::reload(self).await
    }
    async fn tick(&mut self) {
        self.console.supervise();
        self.refresh();
    }
    fn tick_every(&self) -> Duration {
        Duration::from_secs(2)
    }
    fn ready(&self) {
        tracing::info!(project = %self.c.project, "containers ready");
    }
    fn reload_failed(&self, e: &anyhow::Error) {
        tracing::error!(error = %format!("{e:#}"), "applying the new state failed");
    }
}

/// Asks the upcall answerer for the generation of a new attach (it must be the one that
/// hands out generations, or a later re-attach could reuse one).
async fn attach_generation(port: u16, token: &str, tenant: &str) -> anyhow::Result<u32> {
    let r: Value = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{port}/wsctl/v1/attach-generation"
        ))
        .bearer_auth(token)
        .json(&json!({ "tenant": tenant }))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .context("asking the upcall answerer for a generation")?
        .error_for_status()?
        .json()
        .await?;
    r["gen"]
        .as_u64()
        .map(|g| g as u32)
        .with_context(|| format!("unexpected answer from the upcall answerer: {r}"))
}

/// Creates the stack's database if missing and applies the migrations, over the published port.
pub async fn prepare_database(dir: &StateDir, state: &StackState) -> anyhow::Result<()> {
    use crate::stack::connection::pg_config;
    let admin = crate::db::connect(&pg_config(dir, state, "postgres")?).await?;
    let exists = admin
        .query_opt(
            "SELECT 1 FROM pg_database WHERE datname = $1",
            &[&state.database],
        )
        .await?
        .is_some();
    if !exists {
        admin
            .batch_execute(&format!(
                "CREATE DATABASE \"{}\"",
                state.database.replace('"', "")
            ))
            .await?;
    }
    let mut client = crate::db::connect(&pg_config(dir, state, &state.database)?).await?;
    let applied = crate::db::migrations::migrate(&mut client).await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    Ok(())
}
