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
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::{json, Value};

mod files;

pub use files::{compute_config, generated, pageserver_toml, write_files};

pub use super::state::ContainerState;
use super::state::{write_atomic, BackendKind, StackState, StateDir};

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
pub const POSTGRES_COMPOSE: &str = include_str!("../../../compose/postgres.yml");
pub const NEON_COMPOSE: &str = include_str!("../../../compose/workspace-stack.yml");
pub const READY_TIMEOUT: Duration = Duration::from_secs(180);

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

/// Where a compose file for `backend` lives in the repository (for messages).
pub fn repo_file(backend: BackendKind) -> &'static Path {
    Path::new(match backend {
        BackendKind::Postgres => "compose/postgres.yml",
        BackendKind::Neon => "compose/workspace-stack.yml",
    })
}

/// The health suite's container check: every expected service has a running, healthy container.
/// A container whose healthcheck has not passed yet (`starting`, e.g. a compute re-created by a
/// rollback a moment ago) is waited for, up to `STARTING_GRACE`: the check reports the state it
/// settles in, not the instant between.
pub fn health(state: &StackState) -> anyhow::Result<String> {
    const STARTING_GRACE: std::time::Duration = std::time::Duration::from_secs(60);
    let c = state.containers.as_ref().context("not a container stack")?;
    let deadline = std::time::Instant::now() + STARTING_GRACE;
    let mut list = c.containers()?;
    while std::time::Instant::now() < deadline
        && list
            .iter()
            .any(|x| x.state == "running" && x.health.as_deref() == Some("starting"))
    {
        std::thread::sleep(std::time::Duration::from_millis(500));
        list = c.containers()?;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn state(backend: BackendKind) -> StackState {
        StackState {
            version: 1,
            name: "test".into(),
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
            rate_limit_max: None,
            console_port: None,
            lifecycle: Default::default(),
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
        let c = compute_config(n, &n.timeline_id, "secret", "a.b.c");
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
        // A SCRAM verifier of "secret", which compute_ctl stores as given.
        let verifier = spec["cluster"]["roles"][0]["encrypted_password"]
            .as_str()
            .unwrap();
        assert!(verifier.starts_with("SCRAM-SHA-256$4096:"), "{verifier}");
        assert_eq!(spec["storage_auth_token"], "a.b.c");
        assert_eq!(spec["skip_pg_catalog_updates"], false);
        assert!(!c.to_string().contains("\"secret\""));
    }

    #[test]
    fn pageserver_toml_points_at_compose_services() {
        let t: toml::Value = toml::from_str(&pageserver_toml("/usr/local", None)).unwrap();
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
    fn compose_storage_checks_neon_jwts_with_the_mounted_key() {
        let t: toml::Value = toml::from_str(&pageserver_toml("/usr/local", None)).unwrap();
        for k in ["http_auth_type", "pg_auth_type"] {
            assert_eq!(t[k].as_str(), Some("NeonJWT"), "{k}");
        }
        assert_eq!(
            t["auth_validation_public_key_path"].as_str(),
            Some("/data/auth_public_key.pem")
        );
        let key = "/auth_public_key.pem:/auth_public_key.pem:ro";
        assert_eq!(NEON_COMPOSE.matches(key).count(), 3, "one per safekeeper");
        assert!(NEON_COMPOSE.contains("/auth_public_key.pem:/data/auth_public_key.pem:ro"));
        for flag in [
            "\"--pg-auth-public-key-path\", \"/auth_public_key.pem\"",
            "\"--pg-tenant-only-auth-public-key-path\", \"/auth_public_key.pem\"",
            "\"--http-auth-public-key-path\", \"/auth_public_key.pem\"",
        ] {
            assert_eq!(NEON_COMPOSE.matches(flag).count(), 3, "{flag}");
        }
        assert!(NEON_COMPOSE.contains("NEON_AUTH_TOKEN: ${WS_NEON_AUTH_TOKEN:?"));
    }

    #[test]
    fn compose_upcalls_need_the_stacks_token_from_pageserver_and_healthcheck() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::resolve(Some(&tmp.path().join("state"))).unwrap();
        dir.create().unwrap();
        write_files(&dir, &state(BackendKind::Neon)).unwrap();
        let token = dir.read_secret("upcall-token").unwrap();
        let files = Files::new(&dir);
        let env = std::fs::read_to_string(files.env()).unwrap();
        assert!(env.contains(&format!("WS_UPCALL_TOKEN={token}\n")), "{env}");
        let ps = std::fs::read_to_string(files.config().join("pageserver.toml")).unwrap();
        let t: toml::Value = toml::from_str(&ps).unwrap();
        assert_eq!(t["control_plane_api_token"].as_str(), Some(token.as_str()));
        assert!(NEON_COMPOSE.contains("WSCTL_UPCALL_TOKEN: ${WS_UPCALL_TOKEN:?"));
        assert!(NEON_COMPOSE.contains("\"authorization: Bearer ${WS_UPCALL_TOKEN}\""));
    }

    /// Every `${VAR:?…}` a compose file names must be in the env file wsctl writes for it, or
    /// compose refuses to start (CI's `docker-compose config` found WS_UPCALL_TOKEN missing
    /// from its own hand-written list once).
    #[test]
    fn compose_env_sets_every_mandatory_variable() {
        for backend in [BackendKind::Postgres, BackendKind::Neon] {
            let tmp = tempfile::tempdir().unwrap();
            let dir = StateDir::resolve(Some(&tmp.path().join("state"))).unwrap();
            dir.create().unwrap();
            let st = state(backend);
            write_files(&dir, &st).unwrap();
            let files = Files::new(&dir);
            let env = std::fs::read_to_string(files.env()).unwrap();
            let compose = std::fs::read_to_string(files.compose(backend)).unwrap();
            let mandatory: Vec<&str> = compose
                .split("${")
                .skip(1)
                .filter_map(|rest| rest.split_once(":?").map(|(name, _)| name))
                .filter(|name| {
                    name.bytes()
                        .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
                })
                .collect();
            assert!(
                mandatory.contains(&"WS_PG_PASSWORD"),
                "{backend:?}: {mandatory:?}"
            );
            for name in mandatory {
                let set = env.lines().any(|l| {
                    l.strip_prefix(name)
                        .is_some_and(|v| v.len() > 1 && v.starts_with('='))
                });
                assert!(
                    set,
                    "{backend:?}: compose needs {name}, the env file lacks it"
                );
            }
        }
    }

    #[test]
    fn expected_services_follow_the_state() {
        let p = expected_services(&state(BackendKind::Postgres));
        assert_eq!(p, ["postgres", "workspace-api", "workspace-api-feature"]);
        let n = expected_services(&state(BackendKind::Neon));
        assert!(n.contains(&"safekeeper-3".to_string()) && n.contains(&"compute".to_string()));
    }
}
