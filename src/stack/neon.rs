//! The Neon backend: storage broker, one or three safekeepers, a pageserver with
//! local-filesystem remote storage, a tenant and timeline created over the pageserver's HTTP
//! API, and a compute started by compute_ctl from a generated spec — the sequence of Neon's own
//! compose setup, without a storage controller. wsctl answers the pageserver's control-plane
//! upcalls (`re-attach`, `validate`) itself (see `upcall`).
//!
//! ```text
//! .workspace-stack/neon/
//!   pageserver/{identity.toml, pageserver.toml, …}   remote/   (local remote storage)
//!   safekeeper-N/                                    compute/{config.json, pgdata/}
//!   generation                                       the tenant's attach generation
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Ports and ids chosen once per stack and kept in `state.json`: `up` after `down` reattaches
/// the same tenant and timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeonState {
    pub tenant_id: String,
    pub timeline_id: String,
    pub safekeepers: u8,
    pub broker_port: u16,
    pub pageserver_pg_port: u16,
    pub pageserver_http_port: u16,
    /// Safekeeper N uses `safekeeper_pg_port + N - 1` and `safekeeper_http_port + N - 1`.
    pub safekeeper_pg_port: u16,
    pub safekeeper_http_port: u16,
    pub compute_http_port: u16,
    pub compute_internal_port: u16,
    pub upcall_port: u16,
    /// Child timelines, each with a compute of its own.
    #[serde(default)]
    pub branches: Vec<NeonBranch>,
    /// Child timelines nothing writes to, oldest first.
    #[serde(default)]
    pub snapshots: Vec<NeonSnapshot>,
    /// Where the storage listens and how other hosts reach it (see [`Placement`]).
    #[serde(default)]
    pub placement: Placement,
    /// S3-compatible remote storage instead of a directory under the state directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_storage: Option<S3Storage>,
}

/// Listen vs advertised addresses. The broker, the safekeepers and the pageserver bind
/// `listen_host`; the compute spec, the pageserver's `broker_endpoint` and the safekeepers'
/// `--advertise-pg` (what they publish through the broker; safekeeper/src/bin/safekeeper.rs:
/// 112-115) name `advertise_host`, so that processes on other hosts can find them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub listen_host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise_host: Option<String>,
}

impl Default for Placement {
    fn default() -> Self {
        Placement {
            listen_host: "127.0.0.1".into(),
            advertise_host: None,
        }
    }
}

impl Placement {
    /// Only loopback or every interface: wsctl's own probes go to 127.0.0.1.
    pub fn new(
        listen_host: Option<String>,
        advertise_host: Option<String>,
    ) -> anyhow::Result<Self> {
        let listen_host = listen_host.unwrap_or_else(|| "127.0.0.1".into());
        if !matches!(listen_host.as_str(), "127.0.0.1" | "0.0.0.0") {
            bail!("--listen-host {listen_host}: use 127.0.0.1 (this host only) or 0.0.0.0 (every interface, then firewall the storage ports)");
        }
        if listen_host == "0.0.0.0" && advertise_host.is_none() {
            bail!("--listen-host 0.0.0.0 needs --advertise-host HOST: the address other hosts use to reach this one");
        }
        Ok(Placement {
            listen_host,
            advertise_host,
        })
    }

    /// The host other processes are told to connect to.
    pub fn advertised(&self) -> &str {
        self.advertise_host.as_deref().unwrap_or("127.0.0.1")
    }
}

/// Neon's `remote_storage` for S3 and S3-compatible stores (libs/remote_storage/src/
/// config.rs:119-145). Credentials are not stored: Neon reads them from the environment of the
/// pageserver and safekeepers through the AWS default credentials chain
/// (libs/remote_storage/src/s3_bucket.rs:81-103: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`,
/// `AWS_PROFILE`, web identity, container credentials), which `wsctl up` passes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Storage {
    pub bucket_name: String,
    pub bucket_region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_in_bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Safekeepers offload WAL there too (`--remote-storage`, safekeeper.rs:140-147).
    #[serde(default)]
    pub wal_offload: bool,
}

impl S3Storage {
    /// The TOML inline table for one user of the bucket: the pageserver and the safekeepers
    /// each get their own sub-prefix, as they lay out their objects differently.
    pub fn inline_toml(&self, user: &str) -> String {
        let q = |v: &str| toml::Value::String(v.to_string()).to_string();
        let prefix = match &self.prefix_in_bucket {
            Some(p) => format!("{}/{user}", p.trim_end_matches('/')),
            None => user.to_string(),
        };
        let mut parts = vec![
            format!("bucket_name = {}", q(&self.bucket_name)),
            format!("bucket_region = {}", q(&self.bucket_region)),
            format!("prefix_in_bucket = {}", q(&prefix)),
        ];
        if let Some(e) = &self.endpoint {
            parts.push(format!("endpoint = {}", q(e)));
        }
        format!("{{ {} }}", parts.join(", "))
    }
}

/// A snapshot: a timeline branched at `lsn` and never written to. On Neon that costs no copy;
/// a rollback branches a new main timeline from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeonSnapshot {
    #[serde(flatten)]
    pub meta: crate::branch::Meta,
    pub timeline_id: String,
    pub lsn: String,
}

/// A branch: a child timeline of `parent` at `lsn`, served by its own compute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeonBranch {
    pub name: String,
    pub parent: String,
    pub timeline_id: String,
    pub lsn: String,
    pub pg_port: u16,
    pub http_port: u16,
    pub internal_port: u16,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// One compute: main's or a branch's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The supervised service's name: `compute` for main, `compute-<branch>` otherwise.
    pub service: String,
    pub compute_id: String,
    pub timeline_id: String,
    pub pg_port: u16,
    pub http_port: u16,
    pub internal_port: u16,
}

impl NeonState {
    pub fn new(safekeepers: u8) -> Self {
        NeonState {
            tenant_id: generate_id(),
            timeline_id: generate_id(),
            safekeepers,
            broker_port: 50051,
            pageserver_pg_port: 64000,
            pageserver_http_port: 9898,
            safekeeper_pg_port: 5454,
            safekeeper_http_port: 7676,
            compute_http_port: 55433,
            compute_internal_port: 55434,
            upcall_port: 1234,
            branches: Vec::new(),
            snapshots: Vec::new(),
            placement: Placement::default(),
            remote_storage: None,
        }
    }

    /// Every compute this stack runs: main's on `main_pg_port`, then one per branch.
    pub fn endpoints(&self, main_pg_port: u16) -> Vec<Endpoint> {
        let mut out = vec![Endpoint {
            service: "compute".into(),
            compute_id: "ep-main".into(),
            timeline_id: self.timeline_id.clone(),
            pg_port: main_pg_port,
            http_port: self.compute_http_port,
            internal_port: self.compute_internal_port,
        }];
        out.extend(self.branches.iter().map(|b| Endpoint {
            service: format!("compute-{}", b.name),
            compute_id: format!("ep-{}", b.name),
            timeline_id: b.timeline_id.clone(),
            pg_port: b.pg_port,
            http_port: b.http_port,
            internal_port: b.internal_port,
        }));
        out
    }

    /// The timeline of a branch (`main` is the root timeline).
    pub fn timeline_of(&self, branch: &str) -> Option<&str> {
        if branch == crate::branch::MAIN {
            return Some(&self.timeline_id);
        }
        self.branches
            .iter()
            .find(|b| b.name == branch)
            .map(|b| b.timeline_id.as_str())
    }

    /// The same, on ports that are free now (`WSCTL_NEON_PORTS=auto`): for tests and for
    /// machines where Neon's usual ports are taken.
    pub fn with_free_ports(safekeepers: u8) -> anyhow::Result<Self> {
        use crate::stack::ports::free_port;
        let consecutive = |n: u16| -> anyhow::Result<u16> {
            for _ in 0..50 {
                let base = free_port()?;
                if base < u16::MAX - n
                    && (0..n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok())
                {
                    return Ok(base);
                }
            }
            bail!("no {n} consecutive free ports found")
        };
        let k = u16::from(safekeepers);
        Ok(NeonState {
            broker_port: free_port()?,
            pageserver_pg_port: free_port()?,
            pageserver_http_port: free_port()?,
            safekeeper_pg_port: consecutive(k)?,
            safekeeper_http_port: consecutive(k)?,
            compute_http_port: free_port()?,
            compute_internal_port: free_port()?,
            upcall_port: free_port()?,
            ..NeonState::new(safekeepers)
        })
    }

    /// Every port with the service that wants it and the flag that moves it.
    pub fn ports(&self) -> Vec<(u16, String)> {
        let mut p = vec![
            (self.broker_port, "storage_broker".to_string()),
            (self.pageserver_pg_port, "pageserver (libpq)".into()),
            (self.pageserver_http_port, "pageserver (http)".into()),
            (self.compute_http_port, "compute_ctl (http)".into()),
            (
                self.compute_internal_port,
                "compute_ctl (internal http)".into(),
            ),
            (self.upcall_port, "wsctl control-plane upcalls".into()),
        ];
        for n in 1..=self.safekeepers {
            p.push((
                self.safekeeper_pg_port + u16::from(n) - 1,
                format!("safekeeper {n} (libpq)"),
            ));
            p.push((
                self.safekeeper_http_port + u16::from(n) - 1,
                format!("safekeeper {n} (http)"),
            ));
        }
        p
    }

    pub fn safekeeper_connstrings(&self) -> Vec<String> {
        (1..=self.safekeepers)
            .map(|n| {
                let port = self.safekeeper_pg_port + u16::from(n) - 1;
                format!("{}:{port}", self.placement.advertised())
            })
            .collect()
    }
}

/// The `wsctl status` line naming the ports other hosts can reach: compute_ctl binds both of
/// its HTTP servers to `[::]` with no option to narrow it (compute_tools/src/http/server.rs:
/// 191-198), one line per compute.
pub fn exposed_ports(state: &NeonState) -> String {
    let ports: Vec<String> = state
        .endpoints(0)
        .iter()
        .map(|e| format!("{} {}+{}", e.service, e.http_port, e.internal_port))
        .collect();
    format!(
        "  reachable from other hosts: compute_ctl HTTP (external+internal) on all interfaces: {} \
         — Neon's compute_ctl binds [::] and cannot be told otherwise; firewall these ports",
        ports.join(", ")
    )
}

/// A Neon id: 16 random bytes as 32 lowercase hex characters.
pub fn generate_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Where the Neon binaries are: `bin/` with pageserver, safekeeper, storage_broker and
/// compute_ctl, and `pg_install/v17/{bin,lib}` (the layout the Nix package produces).
#[derive(Debug, Clone)]
pub struct NeonBinaries {
    pub bin: PathBuf,
    pub pg_distrib: PathBuf,
}

pub const PROGRAMS: [&str; 4] = ["storage_broker", "safekeeper", "pageserver", "compute_ctl"];

/// What Neon runs from `pg_install/v17`: the pageserver runs `bin/initdb` with `lib/` as its
/// library path (pageserver/src/tenant.rs:5822-5835, config.rs:354-365); compute_ctl runs
/// `pg_config --version` beside `--pgbin` at start-up and panics if that fails
/// (compute_tools/src/extension_server.rs:91-105), and `initdb`, `pg_ctl` and `pg_isready`
/// from the same directory; wsctl stops computes with that `pg_ctl`, as neon_local does.
pub const PG_FILES: [&str; 6] = [
    "v17/bin/postgres",
    "v17/bin/initdb",
    "v17/bin/pg_ctl",
    "v17/bin/pg_isready",
    "v17/bin/pg_config",
    "v17/lib",
];

/// The entries of [`PG_FILES`] that `pg_distrib` lacks.
pub fn missing_pg_files(pg_distrib: &Path) -> Vec<&'static str> {
    PG_FILES
        .into_iter()
        .filter(|f| {
            let p = pg_distrib.join(f);
            if f.ends_with("lib") {
                !p.is_dir()
            } else {
                !p.exists()
            }
        })
        .collect()
}

impl NeonBinaries {
    /// `--neon-dir`, else `WSCTL_NEON_DIR`, else `pageserver` on PATH (with `pg_install`
    /// beside its `bin`).
    pub fn discover(explicit: Option<&Path>) -> anyhow::Result<Self> {
        let root = explicit
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("WSCTL_NEON_DIR").map(PathBuf::from))
            .or_else(|| {
                std::env::var_os("PATH").and_then(|paths| {
                    std::env::split_paths(&paths)
                        .find(|d| d.join("pageserver").is_file())
                        .and_then(|d| d.parent().map(Path::to_path_buf))
                })
            })
            .context(
                "no Neon binaries found (pageserver is not on PATH) — run `nix develop`, or pass \
                 --neon-dir DIR (or set WSCTL_NEON_DIR) pointing at a directory with bin/ and \
                 pg_install/, or use the default postgres backend",
            )?;
        let bin = if root.join("bin/pageserver").is_file() {
            root.join("bin")
        } else {
            root.clone()
        };
        for p in PROGRAMS {
            if !bin.join(p).is_file() {
                bail!(
                    "{} has no {p} — a Neon build provides {}",
                    bin.display(),
                    PROGRAMS.join(", ")
                );
            }
        }
        let pg_distrib = root.join("pg_install");
        let missing = missing_pg_files(&pg_distrib);
        if !missing.is_empty() {
            bail!(
                "{} lacks {} — the pageserver runs initdb from v17/bin with v17/lib, and \
                 compute_ctl runs postgres, initdb, pg_ctl, pg_isready and pg_config beside its \
                 --pgbin; point --neon-dir at a Neon build that has Neon's PostgreSQL 17 there",
                pg_distrib.display(),
                missing.join(", ")
            );
        }
        Ok(NeonBinaries { bin, pg_distrib })
    }

    pub fn program(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }
}

/// identity.toml: the pageserver's node id (one pageserver per stack).
pub const IDENTITY_TOML: &[u8] = b"id=1\n";

/// pageserver.toml's addresses on the network the pageserver runs in: the host's (native
/// processes, after the placement) or the compose network's (service names). One writer,
/// [`PageserverNet::toml`], for both.
pub struct PageserverNet {
    /// `host:port` of the page service and of the HTTP API.
    pub listen_pg: String,
    pub listen_http: String,
    pub pg_distrib: String,
    pub broker_endpoint: String,
    /// The upcall answerer's base URL.
    pub control_plane_api: String,
    /// Remote storage's directory when the stack has no S3 bucket.
    pub local_remote: String,
}

impl PageserverNet {
    /// Native: listeners on the placement's host, our upcall endpoint on loopback.
    pub fn native(state: &NeonState, pg_distrib: &Path, remote: &Path) -> Self {
        let listen = &state.placement.listen_host;
        PageserverNet {
            listen_pg: format!("{listen}:{}", state.pageserver_pg_port),
            listen_http: format!("{listen}:{}", state.pageserver_http_port),
            pg_distrib: pg_distrib.display().to_string(),
            broker_endpoint: format!(
                "http://{}:{}",
                state.placement.advertised(),
                state.broker_port
            ),
            control_plane_api: format!("http://127.0.0.1:{}/upcall/v1/", state.upcall_port),
            local_remote: remote.display().to_string(),
        }
    }

    /// Local (or S3) remote storage, buffered IO (direct IO fails on tmpfs and overlay
    /// filesystems), no fsync (a development stack).
    pub fn toml(&self, s3: Option<&S3Storage>) -> String {
        let remote_storage = match s3 {
            Some(s3) => s3.inline_toml("pageserver"),
            None => format!("{{ local_path = '{}' }}", self.local_remote),
        };
        format!(
            "listen_pg_addr = '{}'\n\
             listen_http_addr = '{}'\n\
             pg_distrib_dir = '{}'\n\
             broker_endpoint = '{}'\n\
             control_plane_api = '{}'\n\
             remote_storage = {remote_storage}\n\
             virtual_file_io_mode = 'buffered'\n\
             no_sync = true\n",
            self.listen_pg,
            self.listen_http,
            self.pg_distrib,
            self.broker_endpoint,
            self.control_plane_api,
        )
    }
}

/// pageserver.toml of a native stack (see [`PageserverNet::native`]).
pub fn pageserver_toml(state: &NeonState, pg_distrib: &Path, remote: &Path) -> String {
    PageserverNet::native(state, pg_distrib, remote).toml(state.remote_storage.as_ref())
}

/// The pageserver.toml line that makes the pageserver send `Authorization: Bearer <token>` on
/// its upcalls (`control_plane_api_token`, libs/pageserver_api/src/config.rs:234).
pub fn control_plane_token_line(token: &str) -> String {
    format!(
        "control_plane_api_token = {}\n",
        toml::Value::String(token.to_string())
    )
}

/// The pageserver.toml lines that turn on Neon's JWT auth for its HTTP API and for compute
/// connections (libs/pageserver_api/src/config.rs:206-210; pageserver/src/bin/pageserver.rs:
/// 461-488), as neon_local writes them (control_plane/src/pageserver.rs:134-139).
pub fn auth_toml_lines(public_key: &Path) -> String {
    format!(
        "http_auth_type = 'NeonJWT'\n\
         pg_auth_type = 'NeonJWT'\n\
         auth_validation_public_key_path = {}\n",
        toml::Value::String(public_key.display().to_string())
    )
}

/// A safekeeper's auth flags, as neon_local passes them (control_plane/src/safekeeper.rs:
/// 188-208): every listener checks tokens against the stack's public key.
pub fn safekeeper_auth_args(public_key: &Path) -> Vec<String> {
    let key = public_key.display().to_string();
    [
        "--pg-auth-public-key-path",
        "--pg-tenant-only-auth-public-key-path",
        "--http-auth-public-key-path",
    ]
    .into_iter()
    .flat_map(|flag| [flag.to_string(), key.clone()])
    .collect()
}

/// What a compute needs when storage checks tokens and connections need a password:
/// `storage_auth_token` (a tenant-scoped token, control_plane/src/bin/neon_local.rs:1505-1510),
/// which compute_ctl hands to postgres as NEON_AUTH_TOKEN (compute_tools/src/compute.rs:
/// 1789-1813), and the superuser as a spec role with a SCRAM verifier, which compute_ctl
/// stores as given (compute_tools/src/pg_helpers.rs:151-161) once catalog updates are on
/// (compute.rs:2146).
pub fn secure_spec(config: &mut Value, storage_token: &str, superuser: &str, password: &str) {
    let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
    let spec = &mut config["spec"];
    spec["storage_auth_token"] = json!(storage_token);
    spec["cluster"]["roles"] =
        json!([{"name": superuser, "encrypted_password": verifier, "options": null}]);
    spec["skip_pg_catalog_updates"] = json!(false);
}

/// A safekeeper's command line: listeners on the placement's host, the advertised address
/// other hosts reach it at, and WAL offload when the stack has S3 storage for it.
pub fn safekeeper_args(state: &NeonState, n: u8, datadir: &Path) -> Vec<String> {
    let offset = u16::from(n) - 1;
    let listen = &state.placement.listen_host;
    let mut args = vec![
        "-D".into(),
        datadir.display().to_string(),
        "--id".into(),
        n.to_string(),
        "--listen-pg".into(),
        format!("{listen}:{}", state.safekeeper_pg_port + offset),
        "--listen-http".into(),
        format!("{listen}:{}", state.safekeeper_http_port + offset),
        "--broker-endpoint".into(),
        format!(
            "http://{}:{}",
            state.placement.advertised(),
            state.broker_port
        ),
        "--availability-zone".into(),
        format!("sk-{n}"),
    ];
    if let Some(host) = &state.placement.advertise_host {
        args.push("--advertise-pg".into());
        args.push(format!("{host}:{}", state.safekeeper_pg_port + offset));
    }
    if let Some(s3) = state.remote_storage.as_ref().filter(|s| s.wal_offload) {
        args.push("--remote-storage".into());
        args.push(s3.inline_toml("safekeeper"));
    }
    args
}

/// The compute's postgresql.conf, as neon_local writes it for a primary with safekeepers.
pub fn compute_postgresql_conf(state: &NeonState, pg_port: u16) -> String {
    let safekeepers = state.safekeeper_connstrings().join(",");
    [
        "max_wal_senders=10".to_string(),
        "wal_log_hints=off".into(),
        "max_replication_slots=10".into(),
        "hot_standby=on".into(),
        "shared_buffers=1MB".into(),
        "effective_io_concurrency=2".into(),
        "fsync=off".into(),
        "max_connections=100".into(),
        "wal_level=logical".into(),
        "wal_sender_timeout=5s".into(),
        "listen_addresses='127.0.0.1'".into(),
        format!("port={pg_port}"),
        "wal_keep_size=0".into(),
        "restart_after_crash=off".into(),
        "shared_preload_libraries=neon".into(),
        "max_replication_write_lag=15MB".into(),
        "max_replication_flush_lag=10GB".into(),
        "synchronous_standby_names=walproposer".into(),
        format!("neon.safekeepers='{safekeepers}'"),
    ]
    .join("\n")
        + "\n"
}

/// compute_ctl's `--config` file: the spec plus the JWKS its HTTP API checks tokens against.
pub fn compute_config(state: &NeonState, timeline_id: &str, pg_port: u16, jwk: &Value) -> Value {
    json!({
        "spec": {
            "format_version": 1.0,
            "suspend_timeout_seconds": -1,
            "cluster": {
                "roles": [],
                "databases": [],
                "settings": null,
                "postgresql_conf": compute_postgresql_conf(state, pg_port),
            },
            "tenant_id": state.tenant_id,
            "timeline_id": timeline_id,
            "mode": "Primary",
            "pageserver_connstring": format!("postgres://no_user@{}:{}", state.placement.advertised(), state.pageserver_pg_port),
            "safekeeper_connstrings": state.safekeeper_connstrings(),
            "skip_pg_catalog_updates": true,
            "reconfigure_concurrency": 1,
            "features": [],
        },
        "compute_ctl_config": {"jwks": {"keys": [jwk]}, "tls": null},
    })
}

/// An Ed25519 public key as the JWK compute_ctl expects. The private half is never needed:
/// readiness is read from the unauthenticated `/metrics`.
pub fn jwk() -> Value {
    use base64::Engine;
    use ed25519_dalek::SigningKey;
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    json!({
        "kty": "OKP", "crv": "Ed25519", "x": x, "kid": "wsctl", "alg": "EdDSA",
        "use": "sig", "key_ops": ["verify"],
    })
}

/// The pageserver's HTTP management API, as much of it as the stack needs.
pub struct Pageserver {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl Pageserver {
    pub fn new(port: u16) -> Self {
        Pageserver {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("static client settings"),
            token: None,
        }
    }

    /// Sends `Authorization: Bearer <token>` on every call (a `pageserverapi` token).
    pub fn with_token(mut self, token: String) -> Self {
        self.token = Some(token);
        self
    }

    async fn call(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let r = req
            .send()
            .await
            .with_context(|| format!("pageserver: {what}"))?;
        let code = r.status();
        let body = r.json::<Value>().await.unwrap_or(Value::Null);
        Ok((code, body))
    }

    /// `GET /v1/status` → `{"id": N}`; `None` while it does not answer over HTTP yet.
    pub async fn status(&self) -> Option<u64> {
        let (code, body) = self
            .call(self.http.get(format!("{}/v1/status", self.base)), "status")
            .await
            .ok()?;
        code.is_success().then(|| body["id"].as_u64()).flatten()
    }

    /// Attaches the tenant in single-attached mode with the given generation.
    pub async fn attach(&self, tenant: &str, generation: u32) -> anyhow::Result<()> {
        let (code, body) = self
            .call(
                self.http
                    .put(format!("{}/v1/tenant/{tenant}/location_config", self.base))
                    .json(&json!({"mode": "AttachedSingle", "generation": generation, "tenant_conf": {}})),
                "location_config",
            )
            .await?;
        if !code.is_success() {
            bail!("pageserver refused to attach tenant {tenant}: {code} {body}");
        }
        Ok(())
    }

    /// `state.slug` of the tenant (`Active` when usable); `None` only when the pageserver says
    /// the tenant is not attached here (404). While a tenant's slot is being changed (an attach
    /// in flight) Neon answers 503 "Tenant not yet active" (pageserver/src/tenant/mgr.rs:795,
    /// http/routes.rs:269-275), and after its wait it answers 200 with whatever state the tenant
    /// is in, `Attaching` included (routes.rs:1253-1261). Both mean "wait": attaching again
    /// would hand out a new generation for nothing.
    pub async fn tenant_state(&self, tenant: &str) -> anyhow::Result<Option<String>> {
        let (code, body) = self
            .call(
                self.http.get(format!("{}/v1/tenant/{tenant}", self.base)),
                "tenant",
            )
            .await?;
        match code.as_u16() {
            404 => Ok(None),
            503 => Ok(Some(NOT_YET_ACTIVE.to_string())),
            200 => {
                let details: TenantDetails = serde_json::from_value(body.clone())
                    .with_context(|| format!("pageserver: unexpected tenant answer {body}"))?;
                Ok(Some(details.state.slug))
            }
            _ => bail!("pageserver: tenant {tenant}: {code} {body}"),
        }
    }

    /// Waits until `tenant` is active here, attaching it (with a generation from
    /// `next_generation`) only if the pageserver says it is not attached at all. A tenant
    /// that is being attached (503, `Attaching`, `Activating`) is waited for, never attached
    /// again; a `Broken` one is an error.
    pub async fn ensure_attached<F, Fut>(
        &self,
        tenant: &str,
        next_generation: F,
        timeout: Duration,
    ) -> anyhow::Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<u32>>,
    {
        let deadline = std::time::Instant::now() + timeout;
        let mut next_generation = Some(next_generation);
        loop {
            let state = self.tenant_state(tenant).await?;
            match state.as_deref() {
                Some("Active") => return Ok(()),
                Some("Broken") => bail!(
                    "tenant {tenant} is broken on the pageserver: {}",
                    self.tenant_body(tenant).await
                ),
                None => match next_generation.take() {
                    Some(f) => {
                        let generation = f().await?;
                        self.attach(tenant, generation).await?;
                    }
                    None => bail!("tenant {tenant} disappeared from the pageserver after attach"),
                },
                Some(_) => {}
            }
            if std::time::Instant::now() > deadline {
                bail!(
                    "tenant {tenant} did not become active within {}s (last state: {})",
                    timeout.as_secs(),
                    state.as_deref().unwrap_or("not attached")
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn tenant_body(&self, tenant: &str) -> String {
        match self
            .call(
                self.http.get(format!("{}/v1/tenant/{tenant}", self.base)),
                "tenant",
            )
            .await
        {
            Ok((_, body)) => body["state"]["data"]["reason"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| body.to_string()),
            Err(e) => format!("{e:#}"),
        }
    }

    pub async fn timeline(&self, tenant: &str, timeline: &str) -> anyhow::Result<Option<Value>> {
        let (code, body) = self
            .call(
                self.http.get(format!(
                    "{}/v1/tenant/{tenant}/timeline/{timeline}",
                    self.base
                )),
                "timeline",
            )
            .await?;
        if code == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !code.is_success() {
            bail!("pageserver: timeline {timeline}: {code} {body}");
        }
        Ok(Some(body))
    }

    /// Creates a root timeline (`ancestor` None) or a branch at `lsn`. Retried as Neon asks:
    /// repeating the same creation is answered 201 again.
    pub async fn create_timeline(
        &self,
        tenant: &str,
        timeline: &str,
        ancestor: Option<(&str, Option<&str>)>,
    ) -> anyhow::Result<Value> {
        let body = match ancestor {
            None => json!({"new_timeline_id": timeline, "pg_version": 17}),
            Some((parent, lsn)) => json!({
                "new_timeline_id": timeline,
                "ancestor_timeline_id": parent,
                "ancestor_start_lsn": lsn,
            }),
        };
        let mut last = String::new();
        for _ in 0..10 {
            let (code, resp) = self
                .call(
                    self.http
                        .post(format!("{}/v1/tenant/{tenant}/timeline", self.base))
                        .json(&body),
                    "timeline create",
                )
                .await?;
            match code.as_u16() {
                200 | 201 => return Ok(resp),
                429 | 503 => {
                    last = format!("{code} {resp}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                _ => bail!("pageserver refused to create timeline {timeline}: {code} {resp}"),
            }
        }
        bail!("pageserver kept refusing to create timeline {timeline}: {last}")
    }
}

impl Pageserver {
    /// Deletes a timeline and waits until the pageserver answers 404 for it (deletion runs in
    /// the background after the 202). A 412 has two meanings and only the body tells them
    /// apart (pageserver/src/http/routes.rs:1163-1176, tenant/timeline/delete.rs:499-513).
    pub async fn delete_timeline(&self, tenant: &str, timeline: &str) -> anyhow::Result<()> {
        let url = format!("{}/v1/tenant/{tenant}/timeline/{timeline}", self.base);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (code, body) = self.call(self.http.delete(&url), "timeline delete").await?;
            match code.as_u16() {
                404 => return Ok(()),
                412 => return Err(DeleteRefused::from_body(tenant, timeline, &body).into()),
                200 | 202 | 409 | 500 | 503 => {}
                _ => bail!("pageserver refused to delete timeline {timeline}: {code} {body}"),
            }
            if std::time::Instant::now() > deadline {
                bail!("timeline {timeline} was still not deleted after 60 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The LSN to branch at for a point in time. `at` is any RFC 3339 time; the pageserver
    /// gets it in the only form its parser takes (see [`pageserver_timestamp`]).
    pub async fn lsn_by_timestamp(
        &self,
        tenant: &str,
        timeline: &str,
        at: &str,
    ) -> anyhow::Result<LsnAt> {
        let timestamp = pageserver_timestamp(at)?;
        let (code, body) = self
            .call(
                self.http
                    .get(format!(
                        "{}/v1/tenant/{tenant}/timeline/{timeline}/get_lsn_by_timestamp",
                        self.base
                    ))
                    // reqwest form-urlencodes the value, which is what the pageserver decodes
                    // (libs/http-utils/src/request.rs:36-48).
                    .query(&[("timestamp", timestamp.as_str())]),
                "get_lsn_by_timestamp",
            )
            .await?;
        if !code.is_success() {
            let msg = error_message(&body);
            bail!("pageserver could not map {at} ({timestamp}) to an LSN: {code} {msg}");
        }
        let answer: LsnByTimestamp = serde_json::from_value(body.clone())
            .with_context(|| format!("unexpected get_lsn_by_timestamp answer: {body}"))?;
        answer.target(at)
    }
}

/// `"Tenant not yet active"` as [`Pageserver::tenant_state`] reports a 503.
pub const NOT_YET_ACTIVE: &str = "NotYetActive";

/// `--at` as the pageserver's `humantime::parse_rfc3339` takes it: UTC, an uppercase `T` and
/// `Z`, no offset (it rejects `+00:00`, a space for `T`, lowercase letters and years before
/// 1970; pageserver/src/http/routes.rs:1052-1055).
pub fn pageserver_timestamp(at: &str) -> anyhow::Result<String> {
    let t = chrono::DateTime::parse_from_rfc3339(at.trim()).with_context(|| {
        format!("--at {at:?} is neither an LSN (like 0/16B5A50) nor an RFC 3339 timestamp (like 2026-12-01T12:00:00Z)")
    })?;
    let utc = t.with_timezone(&chrono::Utc);
    if utc.timestamp() < 0 {
        bail!("--at {at:?} is before 1970-01-01T00:00:00Z, which the pageserver cannot take");
    }
    Ok(utc.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// `{"msg": …}`, the body of every pageserver error (libs/http-utils/src/error.rs:110-133).
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    pub msg: String,
}

fn error_message(body: &Value) -> String {
    serde_json::from_value::<ErrorBody>(body.clone())
        .map(|e| e.msg)
        .unwrap_or_else(|_| body.to_string())
}

/// The part of `TenantDetails` wsctl reads (libs/pageserver_api/src/models.rs:1473-1481).
#[derive(Debug, Deserialize)]
pub struct TenantDetails {
    pub id: String,
    pub state: TenantStateBody,
    pub generation: u32,
}

/// `TenantState` as Neon serializes it: `{"slug": …, "data": …}` (models.rs:48-107).
#[derive(Debug, Deserialize)]
pub struct TenantStateBody {
    pub slug: String,
}

/// Why the pageserver answered 412 to a timeline DELETE.
#[derive(Debug, thiserror::Error)]
pub enum DeleteRefused {
    #[error("timeline {timeline} still has child timelines {children:?}; delete those branches or snapshots first")]
    HasChildren {
        timeline: String,
        children: Vec<String>,
    },
    #[error("the pageserver does not have tenant {tenant} attached, so timeline {timeline} cannot be deleted now — check `wsctl status` and retry once the tenant is active again")]
    TenantMissing { tenant: String, timeline: String },
    #[error("pageserver refused to delete timeline {timeline}: 412 {msg}")]
    Other { timeline: String, msg: String },
}

impl DeleteRefused {
    fn from_body(tenant: &str, timeline: &str, body: &Value) -> Self {
        let msg = error_message(body);
        let timeline = timeline.to_string();
        if let Some(list) = msg.split_once("has child timelines: ").map(|(_, l)| l) {
            let children = list
                .trim_matches(|c| c == '[' || c == ']')
                .split(',')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect();
            DeleteRefused::HasChildren { timeline, children }
        } else if msg.contains("Requested tenant is missing") {
            DeleteRefused::TenantMissing {
                tenant: tenant.to_string(),
                timeline,
            }
        } else {
            DeleteRefused::Other { timeline, msg }
        }
    }
}

/// The answer of `get_lsn_by_timestamp` (pageserver/src/http/routes.rs:1069-1096).
#[derive(Debug, Deserialize)]
pub struct LsnByTimestamp {
    pub lsn: String,
    pub kind: LsnKind,
    #[serde(default)]
    pub valid_until: Option<String>,
}

/// What `kind` means (pageserver/src/pgdatadir_mapping.rs:65-95).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LsnKind {
    /// Commits before and after the time: `lsn` is the last commit at or before it.
    Present,
    /// Every commit found is older than the time: `lsn` is the newest one.
    Future,
    /// The time is before the oldest history the timeline holds: `lsn` is that lower bound.
    Past,
    /// No commit with a timestamp was found: `lsn` is only a safe place to branch.
    NoData,
}

/// Where a point-in-time branch goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LsnAt {
    pub lsn: String,
    pub kind: LsnKind,
}

impl LsnByTimestamp {
    /// The LSN for a branch "as of `at`", or why there is none.
    pub fn target(self, at: &str) -> anyhow::Result<LsnAt> {
        if !is_lsn(&self.lsn) {
            bail!(
                "get_lsn_by_timestamp answered a malformed LSN {:?}",
                self.lsn
            );
        }
        match self.kind {
            LsnKind::Present | LsnKind::Future => Ok(LsnAt {
                lsn: self.lsn,
                kind: self.kind,
            }),
            LsnKind::Past => bail!(
                "{at} is before the oldest history this branch still holds (its start or the \
                 garbage-collection horizon, at LSN {lsn}); pick a later time, or branch at that \
                 point with --at {lsn}",
                lsn = self.lsn
            ),
            LsnKind::NoData => bail!(
                "the pageserver found no commit with a timestamp on this branch, so it cannot \
                 tell which LSN {at} is; pass an LSN with --at (the earliest safe one is {})",
                self.lsn
            ),
        }
    }
}

/// Deletes a timeline's copy on one safekeeper (the pageserver does not touch them).
/// `token` is a `safekeeperdata` token (safekeeper/src/auth.rs:7-36).
pub async fn safekeeper_delete(
    http_port: u16,
    token: &str,
    tenant: &str,
    timeline: &str,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let r = client
        .delete(format!(
            "http://127.0.0.1:{http_port}/v1/tenant/{tenant}/timeline/{timeline}"
        ))
        .bearer_auth(token)
        .send()
        .await?;
    // Neon answers 200 `{"dir_existed": bool}` even for an unknown timeline
    // (safekeeper/src/timelines_global_map.rs:538-610); 404 is accepted from older builds.
    if !(r.status().is_success() || r.status() == reqwest::StatusCode::NOT_FOUND) {
        bail!(
            "safekeeper on {http_port} refused to delete timeline {timeline}: {}",
            r.status()
        );
    }
    Ok(())
}

/// An LSN as Neon writes it: `X/Y` in hex.
pub fn is_lsn(s: &str) -> bool {
    s.split_once('/').is_some_and(|(a, b)| {
        !a.is_empty() && !b.is_empty() && a.chars().chain(b.chars()).all(|c| c.is_ascii_hexdigit())
    })
}

/// Probes that answer `Ok(true)` once a component is ready.
pub async fn http_ok(url: &str, expect_id: Option<u64>) -> bool {
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
    else {
        return false;
    };
    let Ok(r) = client.get(url).send().await else {
        return false;
    };
    if !r.status().is_success() {
        return false;
    }
    match expect_id {
        None => true,
        Some(id) => r
            .json::<Value>()
            .await
            .is_ok_and(|b| b["id"].as_u64() == Some(id)),
    }
}

/// compute_ctl reports `compute_ctl_up{…status="running"} 1` on its unauthenticated /metrics.
pub async fn compute_running(port: u16) -> bool {
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
    else {
        return false;
    };
    let Ok(r) = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
    else {
        return false;
    };
    r.text().await.is_ok_and(|t| {
        t.lines().any(|l| {
            l.starts_with("compute_ctl_up{")
                && l.contains("status=\"running\"")
                && l.trim_end().ends_with(" 1")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_lowercase_hex() {
        let id = generate_id();
        assert_eq!(id.len(), 32);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_ne!(id, generate_id());
    }

    #[test]
    fn three_safekeepers_get_consecutive_ports() {
        let s = NeonState::new(3);
        assert_eq!(
            s.safekeeper_connstrings(),
            ["127.0.0.1:5454", "127.0.0.1:5455", "127.0.0.1:5456"]
        );
        assert_eq!(s.ports().len(), 12);
    }

    #[test]
    fn pageserver_toml_has_the_mandatory_keys() {
        let s = NeonState::new(1);
        let text = pageserver_toml(&s, Path::new("/nix/pg"), Path::new("/st/remote"));
        let parsed: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(
            parsed["control_plane_api"].as_str(),
            Some("http://127.0.0.1:1234/upcall/v1/")
        );
        assert_eq!(
            parsed["remote_storage"]["local_path"].as_str(),
            Some("/st/remote")
        );
        assert_eq!(parsed["virtual_file_io_mode"].as_str(), Some("buffered"));
        assert_eq!(parsed["listen_http_addr"].as_str(), Some("127.0.0.1:9898"));
    }

    #[test]
    fn compute_spec_has_required_fields() {
        let s = NeonState::new(1);
        let c = compute_config(&s, &s.timeline_id, 55432, &jwk());
        assert_eq!(c["spec"]["suspend_timeout_seconds"], -1);
        assert_eq!(c["spec"]["cluster"]["roles"], json!([]));
        assert_eq!(c["spec"]["tenant_id"], s.tenant_id.as_str());
        assert!(c["spec"]["cluster"]["postgresql_conf"]
            .as_str()
            .unwrap()
            .contains("port=55432\n"));
        let key = &c["compute_ctl_config"]["jwks"]["keys"][0];
        assert_eq!(
            (key["kty"].as_str(), key["crv"].as_str()),
            (Some("OKP"), Some("Ed25519"))
        );
        assert_eq!(key["x"].as_str().unwrap().len(), 43);
    }

    macro_rules! fixture {
        ($p:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/neon/fixtures/",
                $p
            ))
        };
    }

    #[test]
    fn neon_bodies_parse_as_wsctl_reads_them() {
        for (body, slug) in [
            (
                fixture!("pageserver/GET_v1_tenant_id.active.200.json"),
                "Active",
            ),
            (
                fixture!("pageserver/GET_v1_tenant_id.attaching.200.json"),
                "Attaching",
            ),
            (
                fixture!("pageserver/GET_v1_tenant_id.activating.200.json"),
                "Activating",
            ),
            (
                fixture!("pageserver/GET_v1_tenant_id.stopping.200.json"),
                "Stopping",
            ),
            (
                fixture!("pageserver/GET_v1_tenant_id.broken.200.json"),
                "Broken",
            ),
        ] {
            let t: TenantDetails = serde_json::from_str(body).unwrap();
            assert_eq!((t.state.slug.as_str(), t.generation), (slug, 2));
        }
        for (body, kind) in [
            (
                fixture!("pageserver/GET_get_lsn_by_timestamp.200.present.json"),
                LsnKind::Present,
            ),
            (
                fixture!("pageserver/GET_get_lsn_by_timestamp.200.present_with_lease.json"),
                LsnKind::Present,
            ),
            (
                fixture!("pageserver/GET_get_lsn_by_timestamp.200.future.json"),
                LsnKind::Future,
            ),
            (
                fixture!("pageserver/GET_get_lsn_by_timestamp.200.past.json"),
                LsnKind::Past,
            ),
            (
                fixture!("pageserver/GET_get_lsn_by_timestamp.200.nodata.json"),
                LsnKind::NoData,
            ),
        ] {
            let a: LsnByTimestamp = serde_json::from_str(body).unwrap();
            assert_eq!(a.kind, kind);
            let target = a.target("t");
            assert_eq!(
                target.is_ok(),
                matches!(kind, LsnKind::Present | LsnKind::Future)
            );
        }
        let v = |b: &str| serde_json::from_str::<Value>(b).unwrap();
        assert!(matches!(
            DeleteRefused::from_body("t", "x", &v(fixture!("pageserver/DELETE_v1_tenant_id_timeline_id.412_has_children.json"))),
            DeleteRefused::HasChildren { children, .. } if children == ["3835b81bbdad412272c552507698acb5", "e2671564deeac3f85823998c06bf2305"]
        ));
        assert!(matches!(
            DeleteRefused::from_body(
                "t",
                "x",
                &v(fixture!(
                    "pageserver/DELETE_v1_tenant_id_timeline_id.412_tenant_missing.json"
                ))
            ),
            DeleteRefused::TenantMissing { .. }
        ));
        for b in [
            fixture!("pageserver/GET_v1_tenant_id.503_not_active.json"),
            fixture!("pageserver/GET_v1_tenant_id.404.json"),
            fixture!("pageserver/GET_get_lsn_by_timestamp.400_invalid_time.json"),
        ] {
            assert!(!error_message(&v(b)).starts_with('{'), "{b}");
        }
        assert_eq!(v(fixture!("pageserver/GET_v1_status.200.json"))["id"], 1);
    }

    #[test]
    fn at_is_sent_in_utc_with_z() {
        assert_eq!(
            pageserver_timestamp("2026-12-01T14:00:00+02:00").unwrap(),
            "2026-12-01T12:00:00Z"
        );
        assert_eq!(
            pageserver_timestamp("2026-12-01T12:00:00.5Z").unwrap(),
            "2026-12-01T12:00:00.500Z"
        );
        assert!(pageserver_timestamp("1969-12-31T23:59:59Z").is_err());
        assert!(pageserver_timestamp("yesterday").is_err());
    }

    #[test]
    fn missing_postgres_files_are_named() {
        let tmp = std::env::temp_dir().join(format!("wsctl-pgfiles-{}", generate_id()));
        std::fs::create_dir_all(tmp.join("v17/bin")).unwrap();
        std::fs::write(tmp.join("v17/bin/postgres"), "").unwrap();
        let missing = missing_pg_files(&tmp);
        assert_eq!(
            missing,
            [
                "v17/bin/initdb",
                "v17/bin/pg_ctl",
                "v17/bin/pg_isready",
                "v17/bin/pg_config",
                "v17/lib"
            ]
        );
        let _ = std::fs::remove_dir_all(&tmp);
    }

    fn several_hosts() -> NeonState {
        let mut s = NeonState::new(3);
        s.placement = Placement::new(Some("0.0.0.0".into()), Some("10.0.0.5".into())).unwrap();
        s.remote_storage = Some(S3Storage {
            bucket_name: "ws-neon".into(),
            bucket_region: "eu-central-1".into(),
            prefix_in_bucket: Some("stack-a/".into()),
            endpoint: Some("http://minio.internal:9000".into()),
            wal_offload: true,
        });
        s
    }

    #[test]
    fn s3_remote_storage_and_listen_addresses_reach_pageserver_toml() {
        let s = several_hosts();
        let text = pageserver_toml(&s, Path::new("/nix/pg"), Path::new("/unused"));
        let t: toml::Value = toml::from_str(&text).unwrap();
        let r = &t["remote_storage"];
        assert_eq!(r["bucket_name"].as_str(), Some("ws-neon"));
        assert_eq!(r["bucket_region"].as_str(), Some("eu-central-1"));
        assert_eq!(r["prefix_in_bucket"].as_str(), Some("stack-a/pageserver"));
        assert_eq!(r["endpoint"].as_str(), Some("http://minio.internal:9000"));
        assert!(r.get("local_path").is_none());
        assert_eq!(t["listen_pg_addr"].as_str(), Some("0.0.0.0:64000"));
        assert_eq!(t["broker_endpoint"].as_str(), Some("http://10.0.0.5:50051"));
        // The upcall endpoint is wsctl itself, always on this host's loopback.
        assert_eq!(
            t["control_plane_api"].as_str(),
            Some("http://127.0.0.1:1234/upcall/v1/")
        );
        let c = compute_config(&s, &s.timeline_id, 55432, &jwk());
        assert_eq!(
            c["spec"]["pageserver_connstring"],
            "postgres://no_user@10.0.0.5:64000"
        );
        assert_eq!(c["spec"]["safekeeper_connstrings"][2], "10.0.0.5:5456");
    }

    #[test]
    fn safekeepers_advertise_their_host_and_offload_wal() {
        let s = several_hosts();
        let args = safekeeper_args(&s, 2, Path::new("/sk2"));
        let after = |flag: &str| {
            let i = args.iter().position(|a| a == flag).unwrap();
            args[i + 1].clone()
        };
        assert_eq!(after("--listen-pg"), "0.0.0.0:5455");
        assert_eq!(after("--advertise-pg"), "10.0.0.5:5455");
        // Neon parses the value as a TOML inline table (safekeeper.rs:833-835).
        let t: toml::Value = toml::from_str(&format!("x = {}", after("--remote-storage"))).unwrap();
        assert_eq!(
            t["x"]["prefix_in_bucket"].as_str(),
            Some("stack-a/safekeeper")
        );
        assert_eq!(t["x"]["bucket_name"].as_str(), Some("ws-neon"));
        let local = safekeeper_args(&NeonState::new(1), 1, Path::new("/sk1"));
        assert!(!local
            .iter()
            .any(|a| a == "--advertise-pg" || a == "--remote-storage"));
        assert!(local.contains(&"127.0.0.1:5454".to_string()));
        assert!(Placement::new(Some("10.0.0.5".into()), None).is_err());
        assert!(Placement::new(Some("0.0.0.0".into()), None).is_err());
    }

    #[test]
    fn the_compose_file_publishes_on_loopback_only_and_never_the_internal_port() {
        let compose = crate::stack::containers::NEON_COMPOSE;
        let mut published = 0;
        let mut in_ports = false;
        for line in compose.lines() {
            let t = line.trim();
            if t == "ports:" {
                in_ports = true;
                continue;
            }
            if in_ports && t.starts_with("- ") {
                published += 1;
                let spec = t.trim_start_matches("- ").trim_matches('"');
                assert!(spec.starts_with("127.0.0.1:"), "{line}");
                assert!(
                    !spec.ends_with(":3081"),
                    "compute_ctl's internal port is published: {line}"
                );
            } else {
                in_ports = false;
            }
        }
        assert!(published >= 6, "{published}");
    }

    #[test]
    fn status_names_the_ports_compute_ctl_opens_to_other_hosts() {
        let line = exposed_ports(&NeonState::new(1));
        assert!(
            line.contains("compute 55433+55434") && line.contains("[::]"),
            "{line}"
        );
    }
}
