//! The supervisor: owns the stack's processes for as long as the stack is up.
//!
//! It holds the state directory's lock, starts the services in dependency order and waits for
//! each to be ready (real probes, one deadline per service), applies migrations, then watches
//! the children: a service that exits is restarted with exponential backoff and the restart is
//! recorded in `status.json`. SIGTERM or SIGINT stops everything in reverse order.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::Child;

use crate::db;
use crate::stack::compute_hba;
use crate::stack::connection::{database_url, pg_config, pg_config_on, url_for};
use crate::stack::hold::{Hold, Holder};
use crate::stack::neon::{self, NeonBinaries, Pageserver};
use crate::stack::neon_auth;
use crate::stack::postgres::{self, PgBinaries, RunAs, ServerOptions};
use crate::stack::process::{self, ServiceSpec};
use crate::stack::state::{write_atomic, BackendKind, ServiceStatus, StackState, StateDir};
use crate::stack::trust;
use crate::stack::upcall::{self, Upcalls};

fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A service that stayed up this long is considered healthy again: its backoff resets.
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// The first restart after a stable run is immediate (a PostgreSQL killed once should be
/// back as fast as crash recovery allows); repeated exits then wait 0.5 s, doubling to 30 s.
fn next_backoff(current: Duration) -> Duration {
    if current.is_zero() {
        FIRST_BACKOFF
    } else {
        (current * 2).min(MAX_BACKOFF)
    }
}

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// A restarted service counts as back (status no longer degraded) once it stayed up this
/// long: PostgreSQL's crash recovery and the API's pool need about a second.
const RECOVERED_AFTER: Duration = Duration::from_secs(2);

struct Managed {
    spec: ServiceSpec,
    child: Option<Child>,
    restarts: u32,
    last_exit: Option<String>,
    started: Instant,
    next_start: Option<Instant>,
    backoff: Duration,
    /// When it last exited, until its new process has stayed up for [`RECOVERED_AFTER`].
    down_since: Option<chrono::DateTime<chrono::Utc>>,
}

pub struct Supervisor {
    dir: StateDir,
    state: StackState,
    services: Vec<Managed>,
    hold: Hold,
    upcalls: Option<actix_web::dev::ServerHandle>,
    /// The timeline each running compute was started on: a rollback moves main to another.
    compute_timelines: std::collections::HashMap<String, String>,
}

#[async_trait::async_trait]
impl Holder for Supervisor {
    fn hold(&mut self) -> &mut Hold {
        &mut self.hold
    }
    fn dir(&self) -> &StateDir {
        &self.dir
    }
    fn mirror(&mut self) {
        self.save();
    }
    async fn start(&mut self) -> anyhow::Result<()> {
        self.start_all().await
    }
    async fn stop(&mut self) -> anyhow::Result<()> {
        self.stop_all().await;
        Ok(())
    }
    async fn reload(&mut self) -> anyhow::Result<()> {
        self.reload_api().await
    }
    async fn tick(&mut self) {
        self.watch().await;
    }
    fn tick_every(&self) -> Duration {
        Duration::from_millis(200)
    }
    fn ready(&self) {
        tracing::info!("stack ready");
    }
    fn reload_failed(&self, e: &anyhow::Error) {
        tracing::error!(error = %format!("{e:#}"), "reloading the API failed");
    }
}

/// How to run the API: the `workspace-api` binary next to `wsctl` (or `WSCTL_API_BIN`), else
/// `wsctl api`, which serves the same code from this binary.
pub fn api_command() -> anyhow::Result<(std::path::PathBuf, Vec<String>)> {
    if let Some(p) = std::env::var_os("WSCTL_API_BIN") {
        return Ok((p.into(), vec!["serve".into()]));
    }
    let exe = std::env::current_exe()?;
    let api = exe.with_file_name("workspace-api");
    if api.is_file() {
        return Ok((api, vec!["serve".into()]));
    }
    Ok((exe, vec!["api".into()]))
}

impl Supervisor {
    /// Takes the lock; fails if another supervisor runs on this state directory.
    pub fn new(dir: StateDir, state: StackState) -> anyhow::Result<Self> {
        let hold = Hold::take(&dir)?;
        Ok(Supervisor {
            dir,
            state,
            services: Vec::new(),
            hold,
            upcalls: None,
            compute_timelines: Default::default(),
        })
    }

    fn save(&mut self) {
        self.hold.status.services = self
            .services
            .iter()
            .map(|m| ServiceStatus {
                name: m.spec.name.clone(),
                pid: m.child.as_ref().and_then(Child::id),
                restarts: m.restarts,
                last_exit: m.last_exit.clone(),
                log: m.spec.log.clone(),
                down_since: m.down_since,
            })
            .collect();
        self.hold.save(&self.dir);
    }

    /// Starts everything and supervises until a stop signal (`stack::hold::run`).
    pub async fn run(self) -> anyhow::Result<()> {
        crate::stack::hold::run(self).await
    }

    async fn start_all(&mut self) -> anyhow::Result<()> {
        match self.state.backend {
            BackendKind::Postgres => self.start_postgres().await?,
            BackendKind::Neon => self.start_neon().await?,
        }
        self.prepare_database().await?;
        self.start_api().await?;
        if let Some(spec) = crate::stack::console::spec(&self.dir, &self.state)? {
            self.spawn(spec)?;
            let port = self.state.console_port.unwrap_or_default();
            self.wait_healthy(crate::stack::console::SERVICE, port)
                .await?;
        }
        Ok(())
    }

    fn pg_spec(&self) -> anyhow::Result<(ServiceSpec, PgBinaries, Option<RunAs>)> {
        let bins = PgBinaries::discover(self.state.pg_bin.as_deref())?;
        let run_as = RunAs::unprivileged()?;
        let socket_dir = self.dir.pg_socket_dir();
        let cmd = postgres::server_command(
            &bins,
            &self.dir.pg_data(),
            &ServerOptions {
                port: self.state.pg_port,
                socket_dir: &socket_dir,
                fast: false,
            },
            run_as,
        );
        let spec = ServiceSpec {
            name: "postgres".into(),
            program: cmd.get_program().into(),
            args: cmd
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            env: Vec::new(),
            cwd: None,
            run_as,
            log: self.dir.log("postgres"),
            // SIGINT is PostgreSQL's "fast" shutdown; on supervisor death it must stop at once.
            stop_signal: libc::SIGINT,
            death_signal: libc::SIGQUIT,
        };
        Ok((spec, bins, run_as))
    }

    async fn start_postgres(&mut self) -> anyhow::Result<()> {
        let (spec, bins, run_as) = self.pg_spec()?;
        // postgres/ stays ours: the database account gets only data/ and socket/ in it, so
        // nothing it does can redirect what we create or open here.
        trust::own_dir(&self.dir.pg_dir(), 0o755, None)?;
        if !self.dir.pg_data().join("PG_VERSION").exists() {
            let password = self.dir.secret("pg-password")?;
            // A half-made cluster from an interrupted initdb is not worth keeping.
            let _ = std::fs::remove_dir_all(self.dir.pg_data());
            postgres::initdb(
                &bins,
                &self.dir.pg_data(),
                &self.state.superuser,
                &password,
                run_as,
                false,
            )?;
        }
        // A postmaster left from a killed supervisor would refuse a second one; stop it. The
        // pid comes from a file the database account writes, so it is checked first.
        let owner = run_as.map_or_else(current_uid, |u| u.uid);
        process::stop_leftover_postmaster(&self.dir.pg_data(), owner, Duration::from_secs(15));
        // Recreated each time: a stale socket or lock file of a killed server goes with it.
        let _ = std::fs::remove_dir_all(self.dir.pg_socket_dir());
        trust::own_dir(&self.dir.pg_socket_dir(), 0o700, run_as)?;
        self.spawn(spec)?;
        let config = pg_config(&self.dir, &self.state, "postgres")?;
        self.wait_ready("postgres", || {
            let config = config.clone();
            async move { Ok(config.connect(tokio_postgres::NoTls).await.is_ok()) }
        })
        .await
    }

    async fn prepare_database(&mut self) -> anyhow::Result<()> {
        let admin = db::connect(&pg_config(&self.dir, &self.state, "postgres")?).await?;
        let exists = admin
            .query_opt(
                "SELECT 1 FROM pg_database WHERE datname = $1",
                &[&self.state.database],
            )
            .await?
            .is_some();
        if !exists {
            admin
                .batch_execute(&format!(
                    "CREATE DATABASE \"{}\"",
                    self.state.database.replace('"', "")
                ))
                .await?;
        }
        let mut client =
            db::connect(&pg_config(&self.dir, &self.state, &self.state.database)?).await?;
        let applied = db::migrations::migrate(&mut client).await?;
        if !applied.is_empty() {
            tracing::info!(?applied, "migrations applied");
        }
        Ok(())
    }

    async fn start_api(&mut self) -> anyhow::Result<()> {
        let url = database_url(&self.dir, &self.state)?;
        self.start_api_instance("workspace-api", self.state.api_port, url)
            .await?;
        for preview in self.state.previews.clone() {
            self.start_preview(&preview).await?;
        }
        Ok(())
    }

    async fn start_preview(
        &mut self,
        preview: &crate::stack::state::Preview,
    ) -> anyhow::Result<()> {
        let (db, port) = self.state.branch_target(&preview.branch);
        let password = self.dir.read_secret("pg-password")?;
        let url = url_for(&self.dir, &self.state, &password, port, &db);
        self.start_api_instance(&preview.service(), preview.port, url)
            .await
    }

    async fn start_api_instance(
        &mut self,
        name: &str,
        port: u16,
        url: String,
    ) -> anyhow::Result<()> {
        let (mut program, mut args) = api_command()?;
        // The API needs no privilege: when we are root it runs as the database account (which
        // reaches the private socket), never as root.
        let run_as = RunAs::unprivileged()?;
        if let Some(user) = run_as {
            program = trust::runnable_copy(&program, &self.dir.root.join("bin"), user)?;
        }
        args.extend([
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
        ]);
        let spec = ServiceSpec {
            name: name.to_string(),
            program,
            args,
            env: [
                ("DATABASE_URL".into(), url),
                ("LOG_FORMAT".into(), "json".into()),
            ]
            .into_iter()
            .chain(self.state.api_env())
            .collect(),
            cwd: Some("/".into()),
            run_as,
            log: self.dir.log(name),
            stop_signal: libc::SIGTERM,
            death_signal: libc::SIGTERM,
        };
        self.spawn(spec)?;
        self.wait_healthy(name, port).await
    }

    /// Waits until the API instance `name` answers `GET /health` with a 2xx on `port`.
    async fn wait_healthy(&mut self, name: &str, port: u16) -> anyhow::Result<()> {
        let url = format!("http://127.0.0.1:{port}/health");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        self.wait_ready(name, || {
            let http = http.clone();
            let url = url.clone();
            async move {
                Ok(http
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success()))
            }
        })
        .await
    }

    /// SIGHUP: start preview APIs that state.json lists and stop those it no longer lists.
    async fn reconcile_previews(&mut self) -> anyhow::Result<()> {
        let wanted: Vec<String> = self.state.previews.iter().map(|p| p.service()).collect();
        let mut i = 0;
        while i < self.services.len() {
            let name = self.services[i].spec.name.clone();
            if name.starts_with("workspace-api-") && !wanted.contains(&name) {
                let mut m = self.services.remove(i);
                process::stop_service(m.child.as_mut(), &m.spec, Duration::from_secs(15)).await;
                continue;
            }
            i += 1;
        }
        for preview in self.state.previews.clone() {
            if !self
                .services
                .iter()
                .any(|m| m.spec.name == preview.service())
            {
                self.start_preview(&preview).await?;
            }
        }
        self.save();
        Ok(())
    }

    fn spawn(&mut self, spec: ServiceSpec) -> anyhow::Result<()> {
        let child = spec.spawn()?;
        tracing::info!(service = %spec.name, pid = child.id(), "started");
        let managed = Managed {
            spec,
            child: Some(child),
            restarts: 0,
            last_exit: None,
            started: Instant::now(),
            next_start: None,
            backoff: Duration::ZERO,
            down_since: None,
        };
        // The API stays last in start order, so it is always the first to stop.
        match self
            .services
            .iter()
            .position(|m| m.spec.name == "workspace-api")
        {
            Some(api) => self.services.insert(api, managed),
            None => self.services.push(managed),
        }
        self.save();
        Ok(())
    }

    /// Polls `probe` every 100 ms until it says ready, the service exits, or the deadline.
    async fn wait_ready<F, Fut>(&mut self, name: &str, probe: F) -> anyhow::Result<()>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<bool>>,
    {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if probe().await? {
                return Ok(());
            }
            let m = self
                .services
                .iter_mut()
                .find(|m| m.spec.name == name)
                .expect("service was spawned");
            if let Some(status) = m.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!(
                    "{name} exited during start ({status}); its log {} ends with:\n{}",
                    m.spec.log.display(),
                    process::tail(&m.spec.log, 15)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{name} was not ready within {}s — see {}",
                    READY_TIMEOUT.as_secs(),
                    m.spec.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGHUP: re-read state.json (the active branch may have changed) and restart the API
    /// against it.
    async fn reload_api(&mut self) -> anyhow::Result<()> {
        if let Some(state) = self.dir.load()? {
            self.state = state;
        }
        self.reconcile_computes().await?;
        self.reconcile_previews().await?;
        let url = database_url(&self.dir, &self.state)?;
        let Some(m) = self
            .services
            .iter_mut()
            .find(|m| m.spec.name == "workspace-api")
        else {
            return Ok(());
        };
        if m.spec
            .env
            .iter()
            .any(|(k, v)| k == "DATABASE_URL" && *v == url)
        {
            return Ok(()); // Same database: no reason to interrupt the API.
        }
        for (k, v) in &mut m.spec.env {
            if k == "DATABASE_URL" {
                *v = url.clone();
            }
        }
        if let Some(child) = &mut m.child {
            process::stop_child(child, libc::SIGTERM, Duration::from_secs(15)).await;
        }
        m.child = Some(m.spec.spawn()?);
        m.started = Instant::now();
        self.save();
        self.wait_healthy("workspace-api", self.state.api_port)
            .await?;
        tracing::info!(database = %self.state.api_database(), "API now serves the active branch");
        Ok(())
    }

    /// One pass over the children: reap exits, restart due ones.
    async fn watch(&mut self) {
        let mut changed = false;
        for m in &mut self.services {
            if m.child.is_some() && m.down_since.is_some() && m.started.elapsed() > RECOVERED_AFTER
            {
                m.down_since = None;
                changed = true;
            }
            if let Some(child) = &mut m.child {
                if let Ok(Some(status)) = child.try_wait() {
                    if m.started.elapsed() > STABLE_AFTER {
                        m.backoff = Duration::ZERO;
                    }
                    tracing::warn!(service = %m.spec.name, %status, backoff_ms = m.backoff.as_millis() as u64, "service exited; restarting");
                    m.last_exit = Some(status.to_string());
                    m.child = None;
                    m.down_since.get_or_insert_with(chrono::Utc::now);
                    m.next_start = Some(Instant::now() + m.backoff);
                    m.backoff = next_backoff(m.backoff);
                    changed = true;
                }
            }
            if m.child.is_none() && m.next_start.is_some_and(|t| Instant::now() >= t) {
                // PostgreSQL killed with -9 leaves its shared memory and pid file; the new
                // postmaster cleans both up itself once the old backends are gone. A compute_ctl
                // that died leaves its postmaster running on the pgdata and port the next one
                // takes: stop that first.
                if let Some(compute) = process::ComputeStop::of(&m.spec) {
                    if let Err(e) = compute.stop(None, m.spec.run_as).await {
                        tracing::error!(service = %m.spec.name, error = %format!("{e:#}"), "leftover compute postmaster");
                        m.next_start = Some(Instant::now() + m.backoff);
                        continue;
                    }
                }
                match m.spec.spawn() {
                    Ok(child) => {
                        tracing::info!(service = %m.spec.name, pid = child.id(), "restarted");
                        m.child = Some(child);
                        m.restarts += 1;
                        m.started = Instant::now();
                        m.next_start = None;
                    }
                    Err(e) => {
                        tracing::error!(service = %m.spec.name, error = %e, "restart failed");
                        m.next_start = Some(Instant::now() + m.backoff);
                        m.backoff = next_backoff(m.backoff);
                    }
                }
                changed = true;
            }
        }
        if changed {
            self.save();
        }
    }

    /// Reverse start order: the API first, then the compute, the storage last.
    async fn stop_all(&mut self) {
        while let Some(mut m) = self.services.pop() {
            if m.child.is_some() || process::ComputeStop::of(&m.spec).is_some() {
                let status =
                    process::stop_service(m.child.as_mut(), &m.spec, Duration::from_secs(15)).await;
                tracing::info!(service = %m.spec.name, ?status, "stopped");
            }
            self.save();
        }
        if let Some(handle) = self.upcalls.take() {
            handle.stop(true).await;
        }
    }

    /// Neon, in dependency order: upcall endpoint, broker, safekeepers, pageserver, tenant,
    /// timeline, compute (the sequence of Neon's compose setup).
    async fn start_neon(&mut self) -> anyhow::Result<()> {
        let neon = self
            .state
            .neon
            .clone()
            .context("state.json has no neon section — run `wsctl up --backend neon`")?;
        let bins = NeonBinaries::discover(self.state.neon_dir.as_deref())?;
        let run_as = RunAs::unprivileged()?;
        let root = self.dir.root.join("neon");
        neon_dirs(&root, &neon, run_as)?;
        // A per-stack token: other local users cannot hand the pageserver generations.
        let upcall_token = self.dir.secret("upcall-token")?;
        let upcalls = Upcalls::load(root.join("generations.json"))?.with_token(&upcall_token);
        self.upcalls = Some(upcall::serve(neon.upcall_port, upcalls.clone())?);
        // Storage checks Neon JWTs against the stack's key; the private half stays in secrets/.
        let key = neon_auth::signing_key(&self.dir)?;
        let public_key = neon_auth::write_public_key(&key, &root.join("auth_public_key.pem"))?;
        let storage = NeonStorage {
            bins: &bins,
            run_as,
            root: &root,
            public_key: &public_key,
            key: &key,
        };
        self.start_broker_and_safekeepers(&storage, &neon).await?;
        let ps = self
            .start_pageserver(&storage, &neon, &upcall_token)
            .await?;

        // A tenant this stack attached before comes back through re-attach; a new one is
        // attached here, its generation recorded before it is used.
        ps.ensure_attached(
            &neon.tenant_id,
            || async { upcalls.next_generation(&neon.tenant_id) },
            READY_TIMEOUT,
        )
        .await?;
        if ps
            .timeline(&neon.tenant_id, &neon.timeline_id)
            .await?
            .is_none()
        {
            ps.create_timeline(&neon.tenant_id, &neon.timeline_id, None)
                .await?;
        }

        for ep in neon.endpoints(self.state.pg_port) {
            self.start_compute(&bins, run_as, &neon, &ep).await?;
        }
        Ok(())
    }

    /// The storage broker, then each safekeeper, each waited for in turn.
    async fn start_broker_and_safekeepers(
        &mut self,
        storage: &NeonStorage<'_>,
        neon: &neon::NeonState,
    ) -> anyhow::Result<()> {
        let root = storage.root;
        self.spawn(storage.spec(
            &self.dir,
            "storage_broker",
            "storage_broker",
            vec![format!(
                "--listen-addr={}:{}",
                neon.placement.listen_host, neon.broker_port
            )],
            root,
        ))?;
        let url = format!("http://127.0.0.1:{}/status", neon.broker_port);
        self.wait_ready("storage_broker", || async {
            Ok(neon::http_ok(&url, None).await)
        })
        .await?;

        for n in 1..=neon.safekeepers {
            let name = format!("safekeeper-{n}");
            let dir = root.join(&name);
            let offset = u16::from(n) - 1;
            let mut args = neon::safekeeper_args(neon, n, &dir);
            args.extend(neon::safekeeper_auth_args(storage.public_key));
            self.spawn(storage.spec(&self.dir, &name, "safekeeper", args, &dir))?;
            let url = format!(
                "http://127.0.0.1:{}/v1/status",
                neon.safekeeper_http_port + offset
            );
            self.wait_ready(&name, || async {
                Ok(neon::http_ok(&url, Some(u64::from(n))).await)
            })
            .await?;
        }
        Ok(())
    }

    /// Writes identity.toml and pageserver.toml, starts the pageserver and waits for it; the
    /// client returned holds a token for its API.
    async fn start_pageserver(
        &mut self,
        storage: &NeonStorage<'_>,
        neon: &neon::NeonState,
        upcall_token: &str,
    ) -> anyhow::Result<Pageserver> {
        let ps_dir = storage.root.join("pageserver");
        let remote = storage.root.join("remote");
        write_atomic(&ps_dir.join("identity.toml"), neon::IDENTITY_TOML, 0o644)?;
        // It holds the upcall token: readable by the pageserver's user only.
        let ps_toml = ps_dir.join("pageserver.toml");
        let text = neon::pageserver_toml(neon, &storage.bins.pg_distrib, &remote)
            + &neon::control_plane_token_line(upcall_token)
            + &neon::auth_toml_lines(storage.public_key);
        write_atomic(&ps_toml, text.as_bytes(), 0o600)?;
        if let Some(user) = storage.run_as {
            user.chown(&ps_toml)?;
        }
        let mut ps_spec = storage.spec(
            &self.dir,
            "pageserver",
            "pageserver",
            vec!["-D".into(), ps_dir.display().to_string()],
            &ps_dir,
        );
        // Its token for the safekeepers (control_plane/src/pageserver.rs:346-354).
        ps_spec.env.push((
            "NEON_AUTH_TOKEN".into(),
            storage.mint(None, neon_auth::Scope::SafekeeperData),
        ));
        self.spawn(ps_spec)?;
        let ps = Pageserver::new(neon.pageserver_http_port)
            .with_token(storage.mint(None, neon_auth::Scope::PageServerApi));
        self.wait_ready("pageserver", || async { Ok(ps.status().await == Some(1)) })
            .await?;
        Ok(ps)
    }

    /// Starts one compute (main's or a branch's) and waits until it runs and accepts
    /// connections.
    async fn start_compute(
        &mut self,
        bins: &NeonBinaries,
        run_as: Option<RunAs>,
        neon: &neon::NeonState,
        ep: &neon::Endpoint,
    ) -> anyhow::Result<()> {
        let dir = self.dir.root.join("neon").join(&ep.service);
        trust::own_dir(&dir, 0o700, run_as)?;
        // The postgres of a compute_ctl killed with an earlier supervisor may still run.
        let owner = run_as.map_or_else(current_uid, |u| u.uid);
        process::stop_leftover_postmaster(&dir.join("pgdata"), owner, Duration::from_secs(15));
        let mut config = neon::compute_config(neon, &ep.timeline_id, ep.pg_port, &neon::jwk());
        let token = neon_auth::token(&self.dir, Some(&neon.tenant_id), neon_auth::Scope::Tenant)?;
        let password = self.dir.read_secret("pg-password")?;
        neon::secure_spec(&mut config, &token, &self.state.superuser, &password);
        // compute_ctl alone reaches PostgreSQL without a password, through a socket in `dir`.
        let hba = dir.join("hba.conf");
        compute_hba::private_socket_settings(&mut config, &hba, &dir);
        let connstr = compute_hba::socket_connstr(&dir, ep.pg_port)?;
        write_atomic(&hba, compute_hba::HBA.as_bytes(), 0o600)?;
        if let Some(user) = run_as {
            user.chown(&hba)?;
        }
        self.compute_timelines
            .insert(ep.service.clone(), ep.timeline_id.clone());
        // It holds the storage token and the superuser's verifier: compute_ctl's user only.
        let config_path = dir.join("config.json");
        write_atomic(&config_path, &serde_json::to_vec_pretty(&config)?, 0o600)?;
        if let Some(user) = run_as {
            user.chown(&config_path)?;
        }
        self.spawn(ServiceSpec {
            name: ep.service.clone(),
            program: bins.program("compute_ctl"),
            args: vec![
                "--pgdata".into(),
                dir.join("pgdata").display().to_string(),
                "--connstr".into(),
                connstr,
                "--pgbin".into(),
                bins.pg_distrib
                    .join("v17/bin/postgres")
                    .display()
                    .to_string(),
                "--compute-id".into(),
                ep.compute_id.clone(),
                "--config".into(),
                dir.join("config.json").display().to_string(),
                "--external-http-port".into(),
                ep.http_port.to_string(),
                "--internal-http-port".into(),
                ep.internal_port.to_string(),
                "--dev".into(),
            ],
            env: vec![("RUST_BACKTRACE".into(), "1".into())],
            cwd: Some(dir.clone()),
            run_as,
            log: self.dir.log(&ep.service),
            stop_signal: libc::SIGTERM,
            death_signal: libc::SIGTERM,
        })?;
        let config = pg_config_on(&self.dir, &self.state, "postgres", ep.pg_port)?;
        let http_port = ep.http_port;
        self.wait_ready(&ep.service, || {
            let config = config.clone();
            async move {
                Ok(neon::compute_running(http_port).await
                    && config.connect(tokio_postgres::NoTls).await.is_ok())
            }
        })
        .await
    }

    /// SIGHUP on Neon: bring the running computes in line with the branches in state.json.
    async fn reconcile_computes(&mut self) -> anyhow::Result<()> {
        let Some(neon) = self.state.neon.clone() else {
            return Ok(());
        };
        let wanted = neon.endpoints(self.state.pg_port);
        let mut i = 0;
        while i < self.services.len() {
            let name = self.services[i].spec.name.clone();
            let is_compute = name == "compute" || name.starts_with("compute-");
            let current = self.compute_timelines.get(&name);
            if is_compute
                && !wanted
                    .iter()
                    .any(|e| e.service == name && Some(&e.timeline_id) == current)
            {
                let mut m = self.services.remove(i);
                process::stop_service(m.child.as_mut(), &m.spec, Duration::from_secs(15)).await;
                self.compute_timelines.remove(&name);
                tracing::info!(service = %name, "stopped a compute whose branch was deleted or moved to another timeline");
                continue;
            }
            i += 1;
        }
        let bins = NeonBinaries::discover(self.state.neon_dir.as_deref())?;
        let run_as = RunAs::unprivileged()?;
        for ep in wanted {
            if !self.services.iter().any(|m| m.spec.name == ep.service) {
                self.start_compute(&bins, run_as, &neon, &ep).await?;
            }
        }
        self.save();
        Ok(())
    }
}

/// What every Neon storage service is started with: its binaries, its user, the stack's
/// neon/ directory and the key storage checks tokens against.
struct NeonStorage<'a> {
    bins: &'a NeonBinaries,
    run_as: Option<RunAs>,
    root: &'a std::path::Path,
    public_key: &'a std::path::Path,
    key: &'a ed25519_dalek::SigningKey,
}

impl NeonStorage<'_> {
    fn spec(
        &self,
        dir: &StateDir,
        name: &str,
        program: &str,
        args: Vec<String>,
        cwd: &std::path::Path,
    ) -> ServiceSpec {
        ServiceSpec {
            name: name.to_string(),
            program: self.bins.program(program),
            args,
            env: vec![("RUST_BACKTRACE".into(), "1".into())],
            cwd: Some(cwd.to_path_buf()),
            run_as: self.run_as,
            log: dir.log(name),
            stop_signal: libc::SIGTERM,
            death_signal: libc::SIGTERM,
        }
    }

    fn mint(&self, tenant: Option<&str>, scope: neon_auth::Scope) -> String {
        neon_auth::mint(self.key, &neon_auth::Claims::new(tenant, scope))
    }
}

/// neon/ and a directory per storage service. neon/ stays ours (generations.json is
/// root's); each service owns its directory.
fn neon_dirs(
    root: &std::path::Path,
    neon: &neon::NeonState,
    run_as: Option<RunAs>,
) -> anyhow::Result<()> {
    trust::own_dir(root, 0o755, None)?;
    let services = ["pageserver", "remote", "compute"]
        .into_iter()
        .map(String::from)
        .chain((1..=neon.safekeepers).map(|n| format!("safekeeper-{n}")));
    for d in services {
        trust::own_dir(&root.join(d), 0o700, run_as)?;
    }
    Ok(())
}
