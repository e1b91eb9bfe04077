//! The stack as one compose project (`wsctl up --containers`): the same commands, state
//! directory and health suite as the native mode, with the services run by a container engine.
//!
//! ```text
//! .workspace-stack/
//!   state.json               ports, backend, and `containers` (compose command, project)
//!   containers/              0700: everything compose reads
//!     compose.env            0600: generated passwords, ports, the API's database
//!     postgres.yml | workspace-stack.yml   the compose file (embedded in wsctl)
//!     generated.json         services that come and go: preview APIs, Neon branch computes
//!     config/                neon: pageserver.toml, identity.toml, compute-*.json (mounted ro)
//! ```
//!
//! A small watcher process (`wsctl supervise`, as in native mode) holds the state directory's
//! lock for as long as the project is up: it brings the services up in order (database,
//! migrations, API), mirrors the containers into `status.json` (pids, restarts), re-creates
//! the API on `SIGHUP` when the active branch changes, and runs `compose down` on `SIGTERM`.
//! Restarts are the engine's job (`restart: unless-stopped`). Data lives in named volumes, so
//! `down` then `up` keeps it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::state::{
    write_atomic, BackendKind, Lock, Phase, ServiceStatus, StackState, StateDir, Status,
};

/// The tag of every image, as the Nix flake and `compose/build-images.sh` build them.
pub const IMAGE_TAG: &str = "0.1.0";

/// `WSCTL_IMAGE_TAG`, else [`IMAGE_TAG`]: another set of images under the same names (the
/// tests run the Neon variant on images of stand-ins tagged `standin`).
pub fn image_tag() -> String {
    std::env::var("WSCTL_IMAGE_TAG")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| IMAGE_TAG.to_string())
}
pub const POSTGRES_COMPOSE: &str = include_str!("../../compose/postgres.yml");
pub const NEON_COMPOSE: &str = include_str!("../../compose/workspace-stack.yml");
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// What `up --containers` decided: kept in state.json so later commands use the same engine
/// and project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerState {
    /// The compose command, e.g. `["docker-compose"]` or `["docker", "compose"]`.
    pub compose: Vec<String>,
    /// The engine's own CLI (`docker` or `podman`), for `inspect` and `image inspect`.
    pub engine: String,
    /// The compose project name, derived from the state directory.
    pub project: String,
}

/// A project name unique to the state directory: two stacks never share containers,
/// networks or volumes.
pub fn project_name(dir: &StateDir) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(dir.root.as_os_str().as_encoded_bytes());
    let base: String = dir
        .root
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(20)
        .collect();
    format!("ws{base}{}", &hex::encode(hash)[..10])
}

fn quiet(cmd: &[String], extra: &[&str]) -> bool {
    Command::new(&cmd[0])
        .args(&cmd[1..])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Finds a compose tool: `WSCTL_COMPOSE` if set, else `docker compose` (v2), `docker-compose`
/// (v1), `podman compose`, `podman-compose`; then checks that its engine answers.
pub fn detect(project: String) -> anyhow::Result<ContainerState> {
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let explicit = std::env::var("WSCTL_COMPOSE")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let candidates: Vec<Vec<String>> = match &explicit {
        Some(v) => vec![words(v)],
        None => [
            "docker compose",
            "docker-compose",
            "podman compose",
            "podman-compose",
        ]
        .iter()
        .map(|c| words(c))
        .collect(),
    };
    let compose = candidates
        .into_iter()
        .find(|c| quiet(c, &["version"]))
        .with_context(|| match &explicit {
            Some(v) => format!("WSCTL_COMPOSE={v:?} does not run (`{v} version` failed) — fix or unset it"),
            None => "no compose tool found (tried docker compose, docker-compose, podman compose, podman-compose) — \
                     install one (Debian: apt-get install docker.io docker-compose) or set WSCTL_COMPOSE".into(),
        })?;
    let engine = std::env::var("WSCTL_ENGINE")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            if compose[0].contains("podman") {
                "podman".into()
            } else {
                "docker".into()
            }
        });
    let info = Command::new(&engine)
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .output();
    match info {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr);
            let why = why.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            let at = std::env::var("DOCKER_HOST").unwrap_or_else(|_| {
                if engine == "podman" {
                    "the podman socket".into()
                } else {
                    "/var/run/docker.sock".into()
                }
            });
            bail!(
                "{engine} engine not reachable at {at} ({why}) — start it (`dockerd &`, or \
                 `systemctl start docker`) or set WSCTL_COMPOSE to another engine's compose"
            );
        }
        Err(e) => bail!("cannot run {engine} ({e}) — install it, or set WSCTL_ENGINE"),
    }
    Ok(ContainerState {
        compose,
        engine,
        project,
    })
}

/// Paths of the generated files.
pub struct Files {
    pub dir: PathBuf,
}

impl Files {
    pub fn new(dir: &StateDir) -> Self {
        Files {
            dir: dir.root.join("containers"),
        }
    }
    pub fn env(&self) -> PathBuf {
        self.dir.join("compose.env")
    }
    pub fn compose(&self, backend: BackendKind) -> PathBuf {
        self.dir.join(match backend {
            BackendKind::Postgres => "postgres.yml",
            BackendKind::Neon => "workspace-stack.yml",
        })
    }
    pub fn generated(&self) -> PathBuf {
        self.dir.join("generated.json")
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("config")
    }
}

/// The compose service a native service name corresponds to, and back.
pub fn compose_service(native: &str) -> String {
    match native {
        "workspace-api" => "api".into(),
        "storage_broker" => "storage-broker".into(),
        other => other.into(),
    }
}

pub fn native_service(compose: &str) -> String {
    match compose {
        "api" => "workspace-api".into(),
        "storage-broker" => "storage_broker".into(),
        other => other.into(),
    }
}

/// The services `up` waits for, in their native names.
pub fn expected_services(state: &StackState) -> Vec<String> {
    let mut out: Vec<String> = match &state.neon {
        None => vec!["postgres".into()],
        Some(n) => std::iter::once("storage_broker".to_string())
            .chain(std::iter::once("upcall".to_string()))
            .chain((1..=n.safekeepers).map(|k| format!("safekeeper-{k}")))
            .chain(["pageserver".into()])
            .chain(n.endpoints(state.pg_port).into_iter().map(|e| e.service))
            .collect(),
    };
    out.push("workspace-api".into());
    out.extend(state.previews.iter().map(|p| p.service()));
    out
}

impl ContainerState {
    /// `compose -p PROJECT --env-file … -f … -f generated.json [--profile ha]`.
    pub fn compose_cmd(&self, dir: &StateDir, state: &StackState) -> Command {
        let files = Files::new(dir);
        let mut c = Command::new(&self.compose[0]);
        c.args(&self.compose[1..])
            .arg("-p")
            .arg(&self.project)
            .arg("--env-file")
            .arg(files.env())
            .arg("-f")
            .arg(files.compose(state.backend));
        // Compose v1 takes a file without services for a version-1 file and refuses to mix it.
        if generated(state)["services"]
            .as_object()
            .is_some_and(|m| !m.is_empty())
        {
            c.arg("-f").arg(files.generated());
        }
        if state.neon.as_ref().is_some_and(|n| n.safekeepers == 3) {
            c.args(["--profile", "ha"]);
        }
        c.current_dir(&files.dir).stdin(Stdio::null());
        c
    }

    /// Runs a compose subcommand; its output goes to the caller's log, its failure names it.
    pub fn compose(&self, dir: &StateDir, state: &StackState, args: &[&str]) -> anyhow::Result<()> {
        let out = self
            .compose_cmd(dir, state)
            .args(args)
            .output()
            .with_context(|| format!("running {}", self.compose.join(" ")))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            bail!(
                "`{} {}` failed ({}):\n{}",
                self.compose.join(" "),
                args.join(" "),
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        tracing::info!(command = %args.join(" "), output = %text.trim(), "compose");
        Ok(())
    }

    /// Every container of the project, running or not.
    pub fn containers(&self) -> anyhow::Result<Vec<Container>> {
        let out = Command::new(&self.engine)
            .args(["ps", "-aq", "--no-trunc", "--filter"])
            .arg(format!("label=com.docker.compose.project={}", self.project))
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {} ps", self.engine))?;
        if !out.status.success() {
            bail!(
                "{} ps failed: {}",
                self.engine,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let out = Command::new(&self.engine)
            .arg("inspect")
            .args(&ids)
            .stdin(Stdio::null())
            .output()?;
        // A container removed between ps and inspect makes inspect fail for it alone; the
        // others are still printed.
        let all: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        Ok(all.iter().map(Container::from_inspect).collect())
    }

    /// Image names the project needs that the engine does not have.
    pub fn missing_images(&self, images: &[String]) -> Vec<String> {
        images
            .iter()
            .filter(|i| {
                !Command::new(&self.engine)
                    .args(["image", "inspect", i])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .cloned()
            .collect()
    }
}

/// One container as the engine reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Container {
    pub name: String,
    /// The compose service.
    pub service: String,
    pub pid: Option<u32>,
    /// `running`, `restarting`, `exited`, …
    pub state: String,
    /// `healthy`, `starting`, `unhealthy`, or None without a healthcheck.
    pub health: Option<String>,
    pub restarts: u32,
    pub exit_code: i64,
}

impl Container {
    fn from_inspect(v: &Value) -> Container {
        let pid = v["State"]["Pid"].as_u64().filter(|p| *p > 0);
        Container {
            name: v["Name"]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            service: v["Config"]["Labels"]["com.docker.compose.service"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            pid: pid.map(|p| p as u32),
            state: v["State"]["Status"].as_str().unwrap_or("unknown").into(),
            health: v["State"]["Health"]["Status"].as_str().map(str::to_string),
            restarts: v["RestartCount"].as_u64().unwrap_or(0) as u32,
            exit_code: v["State"]["ExitCode"].as_i64().unwrap_or(0),
        }
    }

    /// Running, and healthy if it has a healthcheck.
    pub fn ready(&self) -> bool {
        self.state == "running" && self.health.as_deref().map_or(true, |h| h == "healthy")
    }

    pub fn describe(&self) -> String {
        match &self.health {
            Some(h) => format!("{} ({h})", self.state),
            None => self.state.clone(),
        }
    }
}

/// Image names for a backend.
pub fn images_for(backend: BackendKind) -> Vec<String> {
    let names: Vec<&str> = match backend {
        BackendKind::Postgres => vec!["postgres", "api"],
        BackendKind::Neon => vec![
            "storage-broker",
            "pageserver",
            "safekeeper",
            "compute",
            "api",
        ],
    };
    names
        .into_iter()
        .map(|n| format!("workspace-stack/{n}:{}", image_tag()))
        .collect()
}

/// The API's database connection inside the compose network: (host, port, database).
fn api_target(state: &StackState, branch: Option<&str>) -> (String, u16, String) {
    let branch = branch.unwrap_or(crate::branch::MAIN);
    match &state.neon {
        Some(_) if branch == crate::branch::MAIN => {
            ("compute".into(), 55433, state.database.clone())
        }
        Some(_) => (format!("compute-{branch}"), 55433, state.database.clone()),
        None => (
            "postgres".into(),
            5432,
            crate::branch::branch_db(&state.database, branch),
        ),
    }
}

/// Writes compose.env (0600), the compose file, generated.json and, on Neon, the configs.
pub fn write_files(dir: &StateDir, state: &StackState) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let files = Files::new(dir);
    std::fs::create_dir_all(files.config())?;
    // Compose reads these as root; containers see only the files mounted into them (bind
    // mounts do not check the host directories above), so nobody else needs to enter here.
    std::fs::set_permissions(&files.dir, std::fs::Permissions::from_mode(0o700))?;
    std::fs::set_permissions(files.config(), std::fs::Permissions::from_mode(0o755))?;

    let password = dir.secret("pg-password")?;
    let (host, port, db) = api_target(state, state.active_branch.as_deref());
    let mut env = vec![
        ("WS_IMAGE_TAG".to_string(), image_tag()),
        ("WS_PG_PASSWORD".into(), password.clone()),
        ("WS_PG_PORT".into(), state.pg_port.to_string()),
        ("WS_API_PORT".into(), state.api_port.to_string()),
        ("WS_API_DB_HOST".into(), host),
        ("WS_API_DB_PORT".into(), port.to_string()),
        ("WS_API_DATABASE".into(), db),
        ("WS_CONFIG_DIR".into(), files.config().display().to_string()),
    ];
    let compose_text = match &state.neon {
        None => POSTGRES_COMPOSE,
        Some(n) => {
            env.extend([
                ("WS_BROKER_PORT".to_string(), n.broker_port.to_string()),
                (
                    "WS_PAGESERVER_HTTP_PORT".into(),
                    n.pageserver_http_port.to_string(),
                ),
                (
                    "WS_COMPUTE_HTTP_PORT".into(),
                    n.compute_http_port.to_string(),
                ),
                ("WS_UPCALL_PORT".into(), n.upcall_port.to_string()),
                (
                    "WS_COMPUTE_PGBIN".into(),
                    std::env::var("WSCTL_NEON_IMAGE_PGBIN")
                        .unwrap_or_else(|_| "/usr/local/bin/postgres".into()),
                ),
            ]);
            for k in 1..=3u16 {
                env.push((
                    format!("WS_SAFEKEEPER_HTTP_PORT_{k}"),
                    (n.safekeeper_http_port + k - 1).to_string(),
                ));
            }
            write_neon_configs(&files, state, n, &password)?;
            NEON_COMPOSE
        }
    };
    let env_text: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    write_atomic(&files.env(), env_text.as_bytes(), 0o600)?;
    write_atomic(
        &files.compose(state.backend),
        compose_text.as_bytes(),
        0o644,
    )?;
    write_atomic(
        &files.generated(),
        &serde_json::to_vec_pretty(&generated(state))?,
        0o644,
    )?;
    Ok(())
}

/// Services that come and go with branches: preview APIs and Neon branch computes. JSON is
/// YAML, so compose reads this as a second file. No secret is written here: the password is
/// interpolated from compose.env.
pub fn generated(state: &StackState) -> Value {
    let mut services = serde_json::Map::new();
    for p in &state.previews {
        let (host, port, db) = api_target(state, Some(&p.branch));
        services.insert(
            compose_service(&p.service()),
            json!({
                "image": format!("workspace-stack/api:{}", image_tag()),
                "command": ["workspace-api", "serve"],
                "environment": {
                    "DATABASE_URL": format!("postgres://{}:${{WS_PG_PASSWORD}}@{host}:{port}/{db}", state.superuser),
                    "WORKSPACE_HOST": "0.0.0.0",
                    "WORKSPACE_PORT": "3200",
                    "LOG_FORMAT": "json",
                },
                "depends_on": {host.clone(): {"condition": "service_healthy"}},
                "ports": [format!("127.0.0.1:{}:3200", p.port)],
                "networks": ["workspace"],
                "healthcheck": {
                    "test": ["CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:3200/health"],
                    "interval": "2s", "timeout": "3s", "retries": 30, "start_period": "30s",
                },
                "restart": "unless-stopped",
            }),
        );
    }
    if let Some(n) = &state.neon {
        for b in &n.branches {
            services.insert(
                format!("compute-{}", b.name),
                compute_service(
                    n,
                    &format!("ep-{}", b.name),
                    &format!("compute-{}.json", b.name),
                    b.pg_port,
                    b.http_port,
                ),
            );
        }
    }
    json!({ "services": services })
}

/// A compute service (main's is in the compose file; branches' are generated alike).
fn compute_service(
    n: &super::neon::NeonState,
    compute_id: &str,
    config: &str,
    pg_port: u16,
    http_port: u16,
) -> Value {
    let deps: serde_json::Map<String, Value> = std::iter::once("pageserver".to_string())
        .chain((1..=n.safekeepers).map(|k| format!("safekeeper-{k}")))
        .map(|s| (s, json!({"condition": "service_healthy"})))
        .collect();
    json!({
        "image": format!("workspace-stack/compute:{}", image_tag()),
        "command": [
            "compute_ctl", "--pgdata", "/data/pgdata",
            "--connstr", "postgresql://cloud_admin@127.0.0.1:55433/postgres",
            "--pgbin", "${WS_COMPUTE_PGBIN:-/usr/local/bin/postgres}",
            "--compute-id", compute_id, "--config", format!("/config/{config}"),
            "--external-http-port", "3080", "--internal-http-port", "3081", "--dev",
        ],
        "volumes": [format!("${{WS_CONFIG_DIR:?}}/{config}:/config/{config}:ro")],
        "shm_size": "256m",
        "depends_on": deps,
        "ports": [format!("127.0.0.1:{pg_port}:55433"), format!("127.0.0.1:{http_port}:3080")],
        "networks": ["workspace"],
        "healthcheck": {
            "test": ["CMD-SHELL", "curl -fsS http://127.0.0.1:3080/metrics | grep -q 'status=\"running\"} 1'"],
            "interval": "2s", "timeout": "3s", "retries": 60, "start_period": "60s",
        },
        "restart": "unless-stopped",
    })
}

/// pageserver.toml for the pageserver container: listens on the compose network, finds the
/// broker and the upcall answerer by service name, keeps remote storage in its volume.
pub fn pageserver_toml(pg_distrib: &str) -> String {
    format!(
        "listen_pg_addr = '0.0.0.0:6400'\n\
         listen_http_addr = '0.0.0.0:9898'\n\
         pg_distrib_dir = '{pg_distrib}'\n\
         broker_endpoint = 'http://storage-broker:50051'\n\
         control_plane_api = 'http://upcall:1234/upcall/v1/'\n\
         remote_storage = {{ local_path = '/data/remote' }}\n\
         virtual_file_io_mode = 'buffered'\n\
         no_sync = true\n"
    )
}

/// compute_ctl's config for a compute container: the native spec with the compose network's
/// addresses, listening on all of the container's interfaces, and the superuser's password
/// (connections from the host arrive through the engine's NAT, which the basebackup's
/// pg_hba does not trust).
pub fn compute_config(n: &super::neon::NeonState, timeline_id: &str, password: &str) -> Value {
    use md5::Digest;
    let safekeepers: Vec<String> = (1..=n.safekeepers)
        .map(|k| format!("safekeeper-{k}:5454"))
        .collect();
    let mut c = super::neon::compute_config(n, timeline_id, 55433, &super::neon::jwk());
    let conf = super::neon::compute_postgresql_conf(n, 55433)
        .replace("listen_addresses='127.0.0.1'", "listen_addresses='*'")
        .replace(
            &format!(
                "neon.safekeepers='{}'",
                n.safekeeper_connstrings().join(",")
            ),
            &format!("neon.safekeepers='{}'", safekeepers.join(",")),
        );
    let md5 = hex::encode(md5::Md5::digest(format!("{password}cloud_admin")));
    let spec = &mut c["spec"];
    spec["cluster"]["postgresql_conf"] = json!(conf);
    spec["cluster"]["roles"] =
        json!([{"name": "cloud_admin", "encrypted_password": md5, "options": null}]);
    spec["pageserver_connstring"] = json!("postgres://no_user@pageserver:6400");
    spec["safekeeper_connstrings"] = json!(safekeepers);
    spec["skip_pg_catalog_updates"] = json!(false);
    c
}

fn write_neon_configs(
    files: &Files,
    state: &StackState,
    n: &super::neon::NeonState,
    password: &str,
) -> anyhow::Result<()> {
    let distrib =
        std::env::var("WSCTL_NEON_IMAGE_PG_DISTRIB").unwrap_or_else(|_| "/usr/local".into());
    let cfg = files.config();
    write_atomic(&cfg.join("identity.toml"), b"id=1\n", 0o644)?;
    write_atomic(
        &cfg.join("pageserver.toml"),
        pageserver_toml(&distrib).as_bytes(),
        0o644,
    )?;
    for ep in n.endpoints(state.pg_port) {
        // Readable inside the container whatever its user; the 0700 directory above keeps
        // other host users out (the spec holds the password's md5).
        write_atomic(
            &cfg.join(format!("{}.json", ep.service)),
            &serde_json::to_vec_pretty(&compute_config(n, &ep.timeline_id, password))?,
            0o644,
        )?;
    }
    Ok(())
}

/// The watcher: holds the lock while the project is up (see the module comment).
pub struct Watcher {
    dir: StateDir,
    state: StackState,
    c: ContainerState,
    status: Status,
    _lock: Lock,
}

impl Watcher {
    pub fn new(dir: StateDir, state: StackState) -> anyhow::Result<Self> {
        let lock = Lock::try_acquire(&dir.lock_file())?.with_context(|| {
            format!(
                "another wsctl supervisor already runs on {}",
                dir.root.display()
            )
        })?;
        std::fs::write(dir.pid_file(), std::process::id().to_string())?;
        let c = state
            .containers
            .clone()
            .context("state.json has no containers section")?;
        let status = Status {
            phase: Phase::Starting,
            error: None,
            supervisor_pid: std::process::id(),
            services: Vec::new(),
        };
        dir.save_status(&status)?;
        Ok(Watcher {
            dir,
            state,
            c,
            status,
            _lock: lock,
        })
    }

    pub async fn run(mut self) -> anyhow::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        let started = tokio::select! {
            r = self.start() => r,
            _ = term.recv() => Err(anyhow::anyhow!("stopped by SIGTERM while starting")),
            _ = int.recv() => Err(anyhow::anyhow!("stopped by SIGINT while starting")),
        };
        if let Err(e) = started {
            self.status.phase = Phase::Failed;
            self.status.error = Some(format!("{e:#}"));
            self.refresh();
            if let Err(e) = self
                .c
                .compose(&self.dir, &self.state, &["down", "--remove-orphans"])
            {
                tracing::error!(error = %format!("{e:#}"), "compose down after a failed start");
            }
            self.refresh();
            return Err(e);
        }
        self.status.phase = Phase::Ready;
        self.refresh();
        tracing::info!(project = %self.c.project, "containers ready");
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => {
                    if let Err(e) = self.reload().await {
                        tracing::error!(error = %format!("{e:#}"), "applying the new state failed");
                    }
                }
                _ = tokio::time::sleep(Duration::from_secs(2)) => self.refresh(),
            }
        }
        self.status.phase = Phase::Stopping;
        self.refresh();
        let down = self
            .c
            .compose(&self.dir, &self.state, &["down", "--remove-orphans"]);
        self.status.phase = Phase::Stopped;
        self.status.services.clear();
        let _ = self.dir.save_status(&self.status);
        down
    }

    /// Mirrors the containers into status.json under the native service names.
    fn refresh(&mut self) {
        match self.c.containers() {
            Ok(list) => {
                self.status.services = list
                    .iter()
                    .filter(|x| !x.service.is_empty())
                    .map(|x| ServiceStatus {
                        name: native_service(&x.service),
                        pid: x.pid.filter(|_| x.state == "running"),
                        restarts: x.restarts,
                        last_exit: (x.exit_code != 0)
                            .then(|| format!("exit status: {}", x.exit_code)),
                        log: self.dir.log("supervisor"),
                    })
                    .collect();
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "could not list containers"),
        }
        if let Err(e) = self.dir.save_status(&self.status) {
            tracing::warn!(error = %e, "could not write status.json");
        }
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
        let admin = super::supervisor::pg_config(&self.dir, &self.state, "postgres")?;
        super::postgres::wait_ready(&admin, Duration::from_secs(60)).await?;
        prepare_database(&self.dir, &self.state).await?;
        self.up_all().await
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
    async fn start_neon_storage(&mut self, n: &super::neon::NeonState) -> anyhow::Result<()> {
        let mut storage = vec!["storage-broker".to_string(), "upcall".into()];
        storage.extend((1..=n.safekeepers).map(|k| format!("safekeeper-{k}")));
        storage.push("pageserver".into());
        self.up(&storage).await?;
        let ps = super::neon::Pageserver::new(n.pageserver_http_port);
        if ps.tenant_state(&n.tenant_id).await?.is_none() {
            let generation = attach_generation(n.upcall_port, &n.tenant_id).await?;
            ps.attach(&n.tenant_id, generation).await?;
        }
        let deadline = Instant::now() + READY_TIMEOUT;
        while ps.tenant_state(&n.tenant_id).await?.as_deref() != Some("Active") {
            if Instant::now() > deadline {
                bail!(
                    "tenant {} did not become active — see `wsctl logs pageserver`",
                    n.tenant_id
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if ps.timeline(&n.tenant_id, &n.timeline_id).await?.is_none() {
            ps.create_timeline(&n.tenant_id, &n.timeline_id, None)
                .await?;
        }
        self.up(&["compute".into()]).await
    }

    /// SIGHUP: state.json changed (active branch, previews, Neon branches).
    async fn reload(&mut self) -> anyhow::Result<()> {
        if let Some(state) = self.dir.load()? {
            self.state = state;
        }
        write_files(&self.dir, &self.state)?;
        self.up_all().await?;
        tracing::info!(database = %self.state.api_database(), "containers match state.json");
        Ok(())
    }
}

/// Asks the upcall answerer for the generation of a new attach (it must be the one that
/// hands out generations, or a later re-attach could reuse one).
async fn attach_generation(port: u16, tenant: &str) -> anyhow::Result<u32> {
    let r: Value = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{port}/wsctl/v1/attach-generation"
        ))
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
    use super::supervisor::pg_config;
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

/// Runs the stack's supervisor in this process: the native one, or the watcher of a compose
/// project.
pub async fn supervise(dir: StateDir, state: StackState) -> anyhow::Result<()> {
    if state.containers.is_some() {
        Watcher::new(dir, state)?.run().await
    } else {
        super::supervisor::Supervisor::new(dir, state)?.run().await
    }
}

/// The health suite's container check: every expected service has a running, healthy container.
pub fn health(state: &StackState) -> anyhow::Result<String> {
    let c = state.containers.as_ref().context("not a container stack")?;
    let list = c.containers()?;
    let mut ok = Vec::new();
    for s in expected_services(state) {
        let name = compose_service(&s);
        let x = list
            .iter()
            .find(|x| x.service == name)
            .with_context(|| format!("{name} has no container — `wsctl up`"))?;
        if !x.ready() {
            bail!("{name} is {} — see `wsctl logs {s}`", x.describe());
        }
        ok.push(name);
    }
    Ok(format!(
        "{} running and healthy ({})",
        ok.len(),
        ok.join(", ")
    ))
}

/// Where a compose file for `backend` lives in the repository (for messages).
pub fn repo_file(backend: BackendKind) -> &'static Path {
    Path::new(match backend {
        BackendKind::Postgres => "compose/postgres.yml",
        BackendKind::Neon => "compose/workspace-stack.yml",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(backend: BackendKind) -> StackState {
        StackState {
            version: 1,
            backend,
            pg_port: 5433,
            api_port: 3200,
            database: "workspace".into(),
            superuser: "postgres".into(),
            pg_bin: None,
            previews: vec![crate::stack::state::Preview {
                branch: "feature".into(),
                port: 4000,
            }],
            active_branch: None,
            neon_dir: None,
            neon: (backend == BackendKind::Neon).then(|| crate::stack::neon::NeonState::new(3)),
            containers: None,
        }
    }

    #[test]
    fn project_names_differ_per_state_dir_and_are_valid() {
        let a = project_name(&StateDir {
            root: "/srv/One Stack/.workspace-stack".into(),
        });
        let b = project_name(&StateDir {
            root: "/srv/two/.workspace-stack".into(),
        });
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{a}"
        );
    }

    #[test]
    fn generated_services_hold_no_secret_and_publish_on_loopback() {
        let s = state(BackendKind::Neon);
        let mut s2 = s.clone();
        s2.neon
            .as_mut()
            .unwrap()
            .branches
            .push(crate::stack::neon::NeonBranch {
                name: "dev".into(),
                parent: "main".into(),
                timeline_id: "ab".repeat(16),
                lsn: "0/1".into(),
                pg_port: 6000,
                http_port: 6001,
                internal_port: 6002,
                created_at: chrono::Utc::now(),
            });
        let g = generated(&s2);
        let text = g.to_string();
        assert!(text.contains("${WS_PG_PASSWORD}"), "{text}");
        for svc in g["services"].as_object().unwrap().values() {
            for p in svc["ports"].as_array().unwrap() {
                assert!(p.as_str().unwrap().starts_with("127.0.0.1:"), "{p}");
            }
        }
        assert!(g["services"]["compute-dev"]["command"]
            .to_string()
            .contains("ep-dev"));
        assert_eq!(
            g["services"]["workspace-api-feature"]["environment"]["DATABASE_URL"],
            "postgres://postgres:${WS_PG_PASSWORD}@compute-feature:55433/workspace"
        );
    }

    #[test]
    fn compute_config_uses_the_compose_network_and_a_password() {
        let s = state(BackendKind::Neon);
        let n = s.neon.as_ref().unwrap();
        let c = compute_config(n, &n.timeline_id, "secret");
        let spec = &c["spec"];
        assert_eq!(
            spec["pageserver_connstring"],
            "postgres://no_user@pageserver:6400"
        );
        assert_eq!(
            spec["safekeeper_connstrings"],
            json!([
                "safekeeper-1:5454",
                "safekeeper-2:5454",
                "safekeeper-3:5454"
            ])
        );
        let conf = spec["cluster"]["postgresql_conf"].as_str().unwrap();
        assert!(
            conf.contains("listen_addresses='*'") && conf.contains("port=55433"),
            "{conf}"
        );
        assert!(
            conf.contains(
                "neon.safekeepers='safekeeper-1:5454,safekeeper-2:5454,safekeeper-3:5454'"
            ),
            "{conf}"
        );
        // md5("secret" || "cloud_admin"), as PostgreSQL's md5 method stores it.
        assert_eq!(
            spec["cluster"]["roles"][0]["encrypted_password"],
            hex::encode(<md5::Md5 as md5::Digest>::digest(b"secretcloud_admin"))
        );
        assert!(!c.to_string().contains("\"secret\""));
    }

    #[test]
    fn pageserver_toml_points_at_compose_services() {
        let t: toml::Value = toml::from_str(&pageserver_toml("/usr/local")).unwrap();
        assert_eq!(
            t["control_plane_api"].as_str(),
            Some("http://upcall:1234/upcall/v1/")
        );
        assert_eq!(
            t["broker_endpoint"].as_str(),
            Some("http://storage-broker:50051")
        );
        assert_eq!(
            t["remote_storage"]["local_path"].as_str(),
            Some("/data/remote")
        );
    }

    #[test]
    fn expected_services_follow_the_state() {
        let p = expected_services(&state(BackendKind::Postgres));
        assert_eq!(p, ["postgres", "workspace-api", "workspace-api-feature"]);
        let n = expected_services(&state(BackendKind::Neon));
        assert!(n.contains(&"safekeeper-3".to_string()) && n.contains(&"compute".to_string()));
    }
}
