//! Test harness: one real PostgreSQL cluster per test process (initdb into a temp dir on a free
//! port), a migrated template database, and per test a fresh database copied from it plus an
//! API instance on a free port, spoken to over real HTTP.
//!
//! The cluster is torn down by a watchdog shell process that waits for this test process to
//! exit (however it exits, even by SIGKILL), then stops PostgreSQL and removes the directory.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use workspace_stack::api::Application;
use workspace_stack::config::{ApiArgs, ApiSettings, Env};
use workspace_stack::db;
use workspace_stack::stack::postgres::{self, PgBinaries, RunAs, ServerOptions};

pub struct TestCluster {
    pub port: u16,
    pub password: String,
    pub dir: PathBuf,
}

const TEMPLATE: &str = "ws_template";

impl TestCluster {
    pub fn config(&self, dbname: &str) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .password(&self.password)
            .dbname(dbname);
        c
    }

    pub fn url(&self, dbname: &str) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{dbname}",
            self.password, self.port
        )
    }
}

pub fn free_port() -> u16 {
    workspace_stack::stack::ports::free_port().expect("a free loopback port")
}

/// The process-wide cluster, started on first use.
pub fn cluster() -> &'static TestCluster {
    static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        // Its own thread and runtime: this may be first called from inside a test's runtime.
        std::thread::spawn(start_cluster)
            .join()
            .expect("cluster start panicked")
    })
}

/// Outlives this process: once it is gone, stops PostgreSQL (SIGINT, a fast shutdown; then
/// SIGKILL) using the pid in postmaster.pid, and removes the directory.
// Both children outlive this process by design; the watchdog reaps PostgreSQL.
#[allow(clippy::zombie_processes)]
fn spawn_watchdog(dir: &std::path::Path) {
    Command::new("sh")
        .arg("-c")
        .arg(
            r#"while kill -0 "$1" 2>/dev/null; do sleep 0.3; done
               pid=$(head -n 1 "$2/data/postmaster.pid" 2>/dev/null)
               if [ -n "$pid" ]; then
                 kill -INT "$pid" 2>/dev/null; i=0
                 while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
                 kill -KILL "$pid" 2>/dev/null
               fi
               rm -rf "$2""#,
        )
        .arg("watchdog")
        .arg(std::process::id().to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn watchdog");
}

#[allow(clippy::zombie_processes)]
fn start_cluster() -> TestCluster {
    let bins = PgBinaries::discover(
        std::env::var_os("WSCTL_PG_BIN")
            .as_deref()
            .map(std::path::Path::new),
    )
    .unwrap_or_else(|e| panic!("the API tests need a PostgreSQL server: {e:#}"));
    let run_as = RunAs::unprivileged().expect("an account to run PostgreSQL as");
    let dir = tempfile::Builder::new()
        .prefix("ws-test-pg-")
        .tempdir()
        .expect("temp dir")
        .keep();
    if let Some(user) = run_as {
        user.chown(&dir).unwrap();
    }
    spawn_watchdog(&dir);
    let data = dir.join("data");
    let password = postgres::generate_password();
    postgres::initdb(&bins, &data, "postgres", &password, run_as, true).expect("initdb");
    let port = free_port();
    let log = std::fs::File::create(dir.join("postgres.log")).unwrap();
    let mut cmd = postgres::server_command(
        &bins,
        &data,
        &ServerOptions {
            port,
            socket_dir: &dir,
            fast: true,
        },
        run_as,
    );
    cmd.stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn postgres");
    let cluster = TestCluster {
        port,
        password,
        dir,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        postgres::wait_ready(&cluster.config("postgres"), Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| {
                let log =
                    std::fs::read_to_string(cluster.dir.join("postgres.log")).unwrap_or_default();
                panic!("{e:#}\n{log}")
            });
        let admin = db::connect(&cluster.config("postgres")).await.unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {TEMPLATE}"))
            .await
            .unwrap();
        let mut client = db::connect(&cluster.config(TEMPLATE)).await.unwrap();
        db::migrations::migrate(&mut client).await.unwrap();
    });
    cluster
}

/// A fresh database: a copy of the migrated template, or empty with `migrated = false`.
pub async fn create_database(migrated: bool) -> String {
    let cluster = cluster();
    let name = format!("t_{}", postgres::generate_password().to_lowercase());
    let admin = db::connect(&cluster.config("postgres")).await.unwrap();
    let sql = if migrated {
        format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    } else {
        format!("CREATE DATABASE {name}")
    };
    // Concurrent copies of one template can briefly collide; retry those.
    for attempt in 0.. {
        match admin.batch_execute(&sql).await {
            Ok(()) => break,
            Err(e) if attempt < 50 && e.to_string().contains("being accessed by other users") => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("{sql}: {e}"),
        }
    }
    name
}

pub struct TestApp {
    pub address: String,
    pub dbname: String,
    pub http: reqwest::Client,
    pub db: tokio_postgres::Client,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let stop = self.handle.stop(false);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(stop);
        }
    }
}

pub struct AppOptions {
    pub migrated: bool,
    pub rate_limit_max: u32,
    pub rate_limit_window_ms: u64,
    pub trust_proxy: bool,
    pub cors_origin: Option<String>,
    pub database_url: Option<String>,
    pub statement_timeout_ms: Option<u64>,
    pub trust_proxy_hops: Option<u32>,
    pub allowed_hosts: Option<String>,
    pub body_read_timeout_ms: Option<u64>,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            migrated: true,
            rate_limit_max: 0,
            rate_limit_window_ms: 60_000,
            trust_proxy: false,
            cors_origin: None,
            database_url: None,
            statement_timeout_ms: None,
            trust_proxy_hops: None,
            allowed_hosts: None,
            body_read_timeout_ms: None,
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    let cluster = cluster();
    let dbname = create_database(options.migrated).await;
    let args = ApiArgs {
        port: Some(0),
        database_url: Some(
            options
                .database_url
                .clone()
                .unwrap_or_else(|| cluster.url(&dbname)),
        ),
        cors_origin: options.cors_origin.clone(),
        rate_limit_max: Some(options.rate_limit_max),
        rate_limit_window_ms: Some(options.rate_limit_window_ms),
        trust_proxy: options.trust_proxy,
        trust_proxy_hops: options.trust_proxy_hops,
        allowed_hosts: options.allowed_hosts.clone(),
        body_read_timeout_ms: options.body_read_timeout_ms,
        statement_timeout_ms: options.statement_timeout_ms,
        workers: Some(2),
        pool_max: Some(8),
        ..Default::default()
    };
    let no_env = |_: &str| None;
    let settings = ApiSettings::load(&args, &Env(&no_env)).expect("settings");
    if std::env::var_os("TEST_LOG").is_some() {
        workspace_stack::telemetry::init(settings.log_format);
    }
    let app = Application::build(settings).expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.server_handle();
    tokio::spawn(app.run_until_stopped());
    let db = db::connect(&cluster.config(&dbname)).await.unwrap();
    TestApp {
        address,
        dbname,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        db,
        handle,
    }
}

/// A response, read whole: status, headers, and the body as JSON (Null when it is not JSON).
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body read");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.http.delete(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(self.http.post(self.url(path)).json(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(self.http.put(self.url(path)).json(body)).await
    }

    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        self.send(
            self.http
                .request(method, self.url(path))
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    /// Creates a valid item and returns its id.
    pub async fn create_item(&self, title: &str) -> String {
        let r = self
            .post(
                "/api/items",
                &serde_json::json!({
                    "title": title, "description": "d", "category": "documentacao", "priority": "low"
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json["data"]["id"].as_str().unwrap().to_string()
    }

    pub async fn count_items(&self) -> i64 {
        self.db
            .query_one("SELECT count(*) FROM workspace.workspace_items", &[])
            .await
            .unwrap()
            .get(0)
    }
}

pub fn valid_item() -> Value {
    serde_json::json!({
        "title": "Test Item",
        "description": "Test Description",
        "category": "documentacao",
        "priority": "high",
        "tags": ["test", "new"],
    })
}
