//! STAND-IN for Neon's binaries, for tests only. It is not Neon.
//!
//! Linked as `storage_broker`, `safekeeper`, `pageserver` or `compute_ctl`, it checks the
//! command line and config files wsctl produces against Neon's documented contract, serves
//! the documented HTTP endpoints with the documented shapes, and records every invocation as a
//! JSON line in `$NEON_STANDIN_LOG`. The compute stand-in runs a plain PostgreSQL on the
//! requested port with `neon.tenant_id`/`neon.timeline_id` set, so the rest of the stack (API,
//! health suite) runs for real on top of it.
//!
//! Timelines keep data so that branches, snapshots and rollbacks can be checked by content:
//! each timeline is a PostgreSQL data directory in the stand-in store (`$NEON_STANDIN_STORE`,
//! else `timelines/` beside the log). A child timeline is a full copy of its ancestor taken
//! when it is created (`pg_basebackup` from the ancestor's running compute, else a file copy),
//! not copy-on-write and not at the requested LSN: only Neon does that.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().enumerate().find_map(|(i, a)| {
        if let Some(v) = a.strip_prefix(&format!("{name}=")) {
            return Some(v.to_string());
        }
        (a == name).then(|| args.get(i + 1).cloned()).flatten()
    })
}

fn require(args: &[String], name: &str) -> String {
    flag(args, name).unwrap_or_else(|| fail(&format!("missing required flag {name}")))
}

fn fail(msg: &str) -> ! {
    eprintln!("neon stand-in: {msg}");
    std::process::exit(2)
}

fn record(program: &str, args: &[String], extra: Value) {
    if let Some(path) = std::env::var_os("NEON_STANDIN_LOG") {
        let line = json!({"program": program, "args": args, "cwd": std::env::current_dir().ok(), "extra": extra});
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(f, "{line}").unwrap();
    }
}

/// Where timelines keep their data; `None` when the caller set neither variable.
fn store() -> Option<PathBuf> {
    let dir = std::env::var_os("NEON_STANDIN_STORE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("NEON_STANDIN_LOG")
                .and_then(|l| Path::new(&l).parent().map(|p| p.join("timelines")))
        })?;
    use std::os::unix::fs::PermissionsExt;
    if std::fs::create_dir_all(&dir).is_ok() {
        // The pageserver and the computes may run as different users.
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777));
    }
    Some(dir)
}

/// Gives timeline `new` a copy of `ancestor`'s data as it is now.
fn branch_data(ancestor: &str, new: &str) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    let Some(store) = store() else { return Ok(()) };
    let (src, dst) = (store.join(ancestor), store.join(new));
    let Ok(meta) = std::fs::metadata(&src) else {
        return Ok(()); // the ancestor never ran a compute: the child starts empty too
    };
    let _ = std::fs::remove_dir_all(&dst);
    let port = std::fs::read_to_string(store.join(format!("{ancestor}.port")))
        .ok()
        .and_then(|p| p.trim().parse::<u16>().ok())
        .filter(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok());
    let mut cmd = if let Some(port) = port {
        let bins = workspace_stack::stack::postgres::PgBinaries::discover(None)
            .map_err(|e| format!("{e:#}"))?;
        let mut c = std::process::Command::new(bins.tool("pg_basebackup"));
        c.args([
            "-D",
            dst.to_str().unwrap(),
            "-h",
            "127.0.0.1",
            "-U",
            "cloud_admin",
        ])
        .args([
            "-p",
            &port.to_string(),
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        ]);
        c
    } else {
        let mut c = std::process::Command::new("cp");
        c.arg("-a").arg(&src).arg(&dst);
        c
    };
    // The copy must belong to whoever runs the computes.
    if unsafe { libc::geteuid() } == 0 {
        cmd.uid(meta.uid()).gid(meta.gid());
    }
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let _ = std::fs::remove_file(dst.join("postmaster.pid"));
    Ok(())
}

fn addr(s: &str) -> (String, u16) {
    let (h, p) = s
        .rsplit_once(':')
        .unwrap_or_else(|| fail(&format!("bad address {s}")));
    (
        h.to_string(),
        p.parse()
            .unwrap_or_else(|_| fail(&format!("bad port in {s}"))),
    )
}

#[actix_web::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let program = Path::new(&args[0])
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let rest = args[1..].to_vec();
    match program.as_str() {
        "storage_broker" => broker(rest).await,
        "safekeeper" => safekeeper(rest).await,
        "pageserver" => pageserver(rest).await,
        "compute_ctl" => compute(rest).await,
        other => fail(&format!("unknown stand-in name {other}")),
    }
}

async fn broker(args: Vec<String>) {
    let listen = require(&args, "--listen-addr");
    record("storage_broker", &args, json!({}));
    HttpServer::new(|| App::new().route("/status", web::get().to(HttpResponse::Ok)))
        .workers(1)
        .bind(addr(&listen))
        .unwrap_or_else(|e| fail(&format!("bind {listen}: {e}")))
        .run()
        .await
        .unwrap();
}

async fn safekeeper(args: Vec<String>) {
    let dir = PathBuf::from(require(&args, "-D"));
    if !dir.is_dir() {
        fail(&format!("datadir {} does not exist", dir.display()));
    }
    let id: u64 = require(&args, "--id")
        .parse()
        .unwrap_or_else(|_| fail("--id is not a number"));
    let pg = require(&args, "--listen-pg");
    let http = require(&args, "--listen-http");
    let broker = require(&args, "--broker-endpoint");
    if !broker.starts_with("http://") {
        fail("--broker-endpoint must be an http:// URL");
    }
    std::fs::write(dir.join("safekeeper.id"), id.to_string()).unwrap();
    let _pg =
        std::net::TcpListener::bind(addr(&pg)).unwrap_or_else(|e| fail(&format!("bind {pg}: {e}")));
    record("safekeeper", &args, json!({"id": id}));
    HttpServer::new(move || {
        App::new()
            .route(
                "/v1/status",
                web::get().to(move || async move { HttpResponse::Ok().json(json!({"id": id})) }),
            )
            .route(
                "/v1/tenant/{t}/timeline/{tl}",
                web::delete().to(move |path: web::Path<(String, String)>| async move {
                    let (t, tl) = path.into_inner();
                    record(
                        "safekeeper",
                        &[],
                        json!({"id": id, "deleted_timeline": tl, "tenant": t}),
                    );
                    HttpResponse::Ok().json(json!({}))
                }),
            )
    })
    .workers(1)
    .bind(addr(&http))
    .unwrap_or_else(|e| fail(&format!("bind {http}: {e}")))
    .run()
    .await
    .unwrap();
}

/// Tenants (with generation) and their timelines, persisted in the workdir like real state.
/// tenant → (generation, [(timeline, ancestor)])
type TenantMap = HashMap<String, (u64, Vec<(String, Option<String>)>)>;
type Tenants = Arc<Mutex<TenantMap>>;

fn save(dir: &Path, tenants: &Tenants) {
    let t = tenants.lock().unwrap();
    std::fs::write(
        dir.join("standin-tenants.json"),
        serde_json::to_vec(&*t).unwrap(),
    )
    .unwrap();
}

async fn pageserver(args: Vec<String>) {
    let dir = PathBuf::from(require(&args, "-D"));
    let identity: toml::Value = toml::from_str(
        &std::fs::read_to_string(dir.join("identity.toml"))
            .unwrap_or_else(|_| fail("no identity.toml")),
    )
    .unwrap_or_else(|e| fail(&format!("identity.toml: {e}")));
    let id = identity["id"]
        .as_integer()
        .unwrap_or_else(|| fail("identity.toml has no id")) as u64;
    let config: toml::Value = toml::from_str(
        &std::fs::read_to_string(dir.join("pageserver.toml"))
            .unwrap_or_else(|_| fail("no pageserver.toml")),
    )
    .unwrap_or_else(|e| fail(&format!("pageserver.toml: {e}")));
    for key in [
        "listen_pg_addr",
        "listen_http_addr",
        "pg_distrib_dir",
        "broker_endpoint",
        "control_plane_api",
    ] {
        if config.get(key).and_then(|v| v.as_str()).is_none() {
            fail(&format!("pageserver.toml lacks {key}"));
        }
    }
    let remote = config["remote_storage"]["local_path"]
        .as_str()
        .unwrap_or_else(|| fail("no remote_storage.local_path"));
    if !Path::new(remote).is_absolute()
        || !Path::new(config["pg_distrib_dir"].as_str().unwrap())
            .join("v17/bin/postgres")
            .exists()
    {
        fail("remote_storage must be absolute and pg_distrib_dir must hold v17/bin/postgres");
    }
    let stored: TenantMap = std::fs::read(dir.join("standin-tenants.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    // Re-attach: only tenants the control plane lists stay attached, with its generation.
    let api = config["control_plane_api"].as_str().unwrap().to_string();
    let answer: Value = reqwest::Client::new()
        .post(format!("{api}re-attach"))
        .json(&json!({"node_id": id}))
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("re-attach upcall failed: {e}")))
        .json()
        .await
        .unwrap_or_else(|e| fail(&format!("re-attach answer is not JSON: {e}")));
    let mut attached = HashMap::new();
    for t in answer["tenants"].as_array().cloned().unwrap_or_default() {
        let tid = t["id"].as_str().unwrap().to_string();
        if t["mode"] != "AttachedSingle" {
            fail("re-attach answered an unexpected mode");
        }
        let timelines = stored
            .get(&tid)
            .map(|(_, tl)| tl.clone())
            .unwrap_or_default();
        attached.insert(tid, (t["gen"].as_u64().unwrap(), timelines));
    }
    record("pageserver", &args, json!({"reattach": answer}));
    let tenants: Tenants = Arc::new(Mutex::new(attached));
    save(&dir, &tenants);
    let http = config["listen_http_addr"].as_str().unwrap().to_string();
    let pg = config["listen_pg_addr"].as_str().unwrap().to_string();
    let _pg =
        std::net::TcpListener::bind(addr(&pg)).unwrap_or_else(|e| fail(&format!("bind {pg}: {e}")));
    let data = web::Data::new((tenants, dir));
    HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route(
                "/v1/status",
                web::get().to(move || async move { HttpResponse::Ok().json(json!({"id": id})) }),
            )
            .route(
                "/v1/tenant/{t}/location_config",
                web::put().to(location_config),
            )
            .route("/v1/tenant/{t}", web::get().to(tenant))
            .route("/v1/tenant/{t}/timeline", web::post().to(create_timeline))
            .route("/v1/tenant/{t}/timeline/{tl}", web::get().to(timeline))
            .route(
                "/v1/tenant/{t}/timeline/{tl}",
                web::delete().to(delete_timeline),
            )
            .route(
                "/v1/tenant/{t}/timeline/{tl}/get_lsn_by_timestamp",
                web::get().to(lsn_by_timestamp),
            )
    })
    .workers(1)
    .bind(addr(&http))
    .unwrap_or_else(|e| fail(&format!("bind {http}: {e}")))
    .run()
    .await
    .unwrap();
}

type PsData = web::Data<(Tenants, PathBuf)>;

async fn location_config(
    data: PsData,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    let tid = path.into_inner();
    if tid.len() != 32
        || body["mode"] != "AttachedSingle"
        || !body["generation"].is_u64()
        || !body["tenant_conf"].is_object()
    {
        return HttpResponse::BadRequest()
            .json(json!({"msg": format!("bad location_config {body}")}));
    }
    data.0.lock().unwrap().entry(tid).or_insert((0, vec![])).0 =
        body["generation"].as_u64().unwrap();
    save(&data.1, &data.0);
    HttpResponse::Ok().json(json!({"shards": []}))
}

async fn tenant(data: PsData, path: web::Path<String>) -> HttpResponse {
    let tid = path.into_inner();
    if data.0.lock().unwrap().contains_key(&tid) {
        HttpResponse::Ok().json(json!({"id": tid, "state": {"slug": "Active"}}))
    } else {
        HttpResponse::NotFound().json(json!({"msg": "tenant not found"}))
    }
}

fn info(tid: &str, tl: &str) -> Value {
    json!({"tenant_id": tid, "timeline_id": tl, "ancestor_timeline_id": null, "last_record_lsn": "0/16B5A50", "state": "Active", "pg_version": 17})
}

async fn create_timeline(
    data: PsData,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    let tid = path.into_inner();
    let Some(tl) = body["new_timeline_id"]
        .as_str()
        .filter(|t| t.len() == 32)
        .map(str::to_string)
    else {
        return HttpResponse::BadRequest().json(json!({"msg": "new_timeline_id missing"}));
    };
    let ancestor = body["ancestor_timeline_id"].as_str().map(str::to_string);
    if ancestor.is_some()
        && !body["ancestor_start_lsn"]
            .as_str()
            .is_some_and(|l| l.contains('/'))
    {
        return HttpResponse::BadRequest()
            .json(json!({"msg": "a branch needs ancestor_start_lsn X/Y"}));
    }
    let known = |t: &str| {
        let tenants = data.0.lock().unwrap();
        let timelines = tenants.get(&tid).map(|(_, t)| t.clone());
        timelines.map(|tls| tls.iter().any(|(x, _)| x == t))
    };
    let Some(exists) = known(&tl) else {
        return HttpResponse::NotFound().json(json!({"msg": "tenant not found"}));
    };
    if ancestor.as_deref().is_some_and(|a| known(a) != Some(true)) {
        return HttpResponse::NotFound().json(json!({"msg": "ancestor timeline not found"}));
    }
    if !exists {
        if let Some(a) = ancestor.clone() {
            let new = tl.clone();
            match web::block(move || branch_data(&a, &new))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r)
            {
                Ok(()) => {}
                Err(e) => {
                    return HttpResponse::InternalServerError()
                        .json(json!({"msg": format!("stand-in could not copy the ancestor: {e}")}))
                }
            }
        }
        if let Some((_, timelines)) = data.0.lock().unwrap().get_mut(&tid) {
            timelines.push((tl.clone(), ancestor.clone()));
        }
    }
    save(&data.1, &data.0);
    let mut i = info(&tid, &tl);
    i["ancestor_timeline_id"] = json!(ancestor);
    HttpResponse::Created().json(i)
}

async fn delete_timeline(data: PsData, path: web::Path<(String, String)>) -> HttpResponse {
    let (tid, tl) = path.into_inner();
    let mut tenants = data.0.lock().unwrap();
    let Some((_, timelines)) = tenants.get_mut(&tid) else {
        return HttpResponse::NotFound().json(json!({"msg": "tenant not found"}));
    };
    if !timelines.iter().any(|(t, _)| t == &tl) {
        return HttpResponse::NotFound().json(json!({"msg": "timeline not found"}));
    }
    if timelines
        .iter()
        .any(|(_, a)| a.as_deref() == Some(tl.as_str()))
    {
        return HttpResponse::PreconditionFailed()
            .json(json!({"msg": "timeline has child timelines"}));
    }
    timelines.retain(|(t, _)| t != &tl);
    drop(tenants);
    if let Some(store) = store() {
        let _ = std::fs::remove_dir_all(store.join(&tl));
    }
    save(&data.1, &data.0);
    record("pageserver", &[], json!({"deleted_timeline": tl}));
    HttpResponse::Accepted().json(json!(null))
}

async fn lsn_by_timestamp(query: web::Query<HashMap<String, String>>) -> HttpResponse {
    match query
        .get("timestamp")
        .map(|t| chrono::DateTime::parse_from_rfc3339(t))
    {
        Some(Ok(_)) => HttpResponse::Ok().json(json!({"lsn": "0/1696628", "kind": "present"})),
        _ => HttpResponse::BadRequest().json(json!({"msg": "timestamp must be RFC 3339"})),
    }
}

async fn timeline(data: PsData, path: web::Path<(String, String)>) -> HttpResponse {
    let (tid, tl) = path.into_inner();
    let found = data
        .0
        .lock()
        .unwrap()
        .get(&tid)
        .and_then(|(_, t)| t.iter().find(|(x, _)| x == &tl).cloned());
    if let Some((_, ancestor)) = found {
        let mut i = info(&tid, &tl);
        i["ancestor_timeline_id"] = json!(ancestor);
        HttpResponse::Ok().json(i)
    } else {
        HttpResponse::NotFound().json(json!({"msg": "timeline not found"}))
    }
}

/// A timeline that has no data in this store starts from its nearest ancestor's that has,
/// found through the pageserver (`$NEON_STANDIN_PAGESERVER_HTTP`). Where computes keep their
/// own stores (one volume per container) the pageserver could not copy at creation; this gives
/// a rolled-back main the data of the timeline it came from, as it is now.
async fn inherit_data(store: &Path, spec: &Value, timeline: &str) {
    let Ok(base) = std::env::var("NEON_STANDIN_PAGESERVER_HTTP") else {
        return;
    };
    let tenant = spec["tenant_id"].as_str().unwrap_or_default();
    let mut current = timeline.to_string();
    for _ in 0..32 {
        let url = format!("{base}/v1/tenant/{tenant}/timeline/{current}");
        let Ok(r) = reqwest::get(&url).await else {
            return;
        };
        let Ok(info) = r.json::<Value>().await else {
            return;
        };
        let Some(ancestor) = info["ancestor_timeline_id"].as_str().map(str::to_string) else {
            return;
        };
        if store.join(&ancestor).join("PG_VERSION").exists() {
            let _ = std::process::Command::new("cp")
                .arg("-a")
                .arg(store.join(&ancestor))
                .arg(store.join(timeline))
                .status();
            let _ = std::fs::remove_file(store.join(timeline).join("postmaster.pid"));
            return;
        }
        current = ancestor;
    }
}

async fn compute(args: Vec<String>) {
    let pgdata = PathBuf::from(require(&args, "--pgdata"));
    let connstr = require(&args, "--connstr");
    let pgbin = PathBuf::from(require(&args, "--pgbin"));
    let _id = require(&args, "--compute-id");
    let config: Value = serde_json::from_slice(
        &std::fs::read(require(&args, "--config")).unwrap_or_else(|_| fail("cannot read --config")),
    )
    .unwrap_or_else(|e| fail(&format!("--config is not JSON: {e}")));
    let http_port: u16 = require(&args, "--external-http-port").parse().unwrap();
    let _internal: u16 = require(&args, "--internal-http-port").parse().unwrap();
    let spec = &config["spec"];
    for (key, ok) in [
        ("format_version", spec["format_version"].is_number()),
        (
            "suspend_timeout_seconds",
            spec["suspend_timeout_seconds"].is_i64(),
        ),
        ("cluster.roles", spec["cluster"]["roles"].is_array()),
        ("cluster.databases", spec["cluster"]["databases"].is_array()),
        (
            "tenant_id",
            spec["tenant_id"].as_str().is_some_and(|t| t.len() == 32),
        ),
        (
            "timeline_id",
            spec["timeline_id"].as_str().is_some_and(|t| t.len() == 32),
        ),
        (
            "safekeeper_connstrings",
            spec["safekeeper_connstrings"]
                .as_array()
                .is_some_and(|a| !a.is_empty()),
        ),
        (
            "jwks",
            config["compute_ctl_config"]["jwks"]["keys"]
                .as_array()
                .is_some_and(|a| !a.is_empty()),
        ),
    ] {
        if !ok {
            fail(&format!("compute config: {key} is missing or malformed"));
        }
    }
    if !pgbin.exists() || !pgdata.parent().is_some_and(Path::exists) {
        fail("--pgbin must exist and the parent of --pgdata must exist");
    }
    let port: u16 = connstr
        .rsplit_once(':')
        .and_then(|(_, r)| r.split('/').next()?.parse().ok())
        .unwrap_or_else(|| fail("no port in --connstr"));
    let conf = spec["cluster"]["postgresql_conf"]
        .as_str()
        .unwrap_or_default();
    if !conf.contains(&format!("port={port}\n")) {
        fail("the postgres port in --connstr must match the one in postgresql_conf");
    }
    record(
        "compute_ctl",
        &args,
        json!({"spec_tenant": spec["tenant_id"]}),
    );
    // A plain PostgreSQL stands in for Neon's compute: same port, the Neon GUCs as placeholders.
    let bins = workspace_stack::stack::postgres::PgBinaries::discover(None)
        .unwrap_or_else(|e| fail(&format!("{e:#}")));
    // With a store the timeline's data outlives the compute, as on Neon; without one every
    // start is a fresh cluster.
    let timeline = spec["timeline_id"].as_str().unwrap().to_string();
    let store = store();
    let pgdata = match &store {
        Some(s) => s.join(&timeline),
        None => {
            let _ = std::fs::remove_dir_all(&pgdata);
            pgdata
        }
    };
    if let (Some(store), false) = (&store, pgdata.join("PG_VERSION").exists()) {
        inherit_data(store, spec, &timeline).await;
    }
    let fresh = !pgdata.join("PG_VERSION").exists();
    if fresh {
        let out = std::process::Command::new(bins.tool("initdb"))
            .args([
                "-D",
                pgdata.to_str().unwrap(),
                "-U",
                "cloud_admin",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .output()
            .unwrap();
        if !out.status.success() {
            fail(&format!("initdb: {}", String::from_utf8_lossy(&out.stderr)));
        }
    }
    // In a container the spec asks for every interface; connections from elsewhere then need
    // the password of a spec role, as compute_ctl's `host all all all md5` line requires.
    let listen = conf
        .lines()
        .find_map(|l| l.strip_prefix("listen_addresses="))
        .unwrap_or("'127.0.0.1'")
        .trim_matches('\'')
        .to_string();
    let roles: Vec<(String, String)> = spec["cluster"]["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some((
                r["name"].as_str()?.to_string(),
                r["encrypted_password"].as_str()?.to_string(),
            ))
        })
        .collect();
    let hba_path = pgdata.join("pg_hba.conf");
    let hba_has = std::fs::read_to_string(&hba_path)
        .unwrap_or_default()
        .contains("host all all all md5");
    if !roles.is_empty() && !hba_has {
        let mut hba = std::fs::OpenOptions::new()
            .append(true)
            .open(&hba_path)
            .unwrap();
        writeln!(hba, "host all all all md5").unwrap();
    }
    let port_file = store.as_ref().map(|s| s.join(format!("{timeline}.port")));
    if let Some(f) = &port_file {
        let _ = std::fs::write(f, port.to_string());
    }
    let socket = PathBuf::from(require(&args, "--pgdata"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut pg = std::process::Command::new(bins.tool("postgres"))
        .args(["-D", pgdata.to_str().unwrap()])
        .arg("-c")
        .arg(format!("port={port}"))
        .arg("-c")
        .arg(format!("listen_addresses={listen}"))
        .arg("-c")
        .arg(format!("unix_socket_directories={}", socket.display()))
        .arg("-c")
        .arg(format!(
            "neon.tenant_id={}",
            spec["tenant_id"].as_str().unwrap()
        ))
        .arg("-c")
        .arg(format!(
            "neon.timeline_id={}",
            spec["timeline_id"].as_str().unwrap()
        ))
        .spawn()
        .unwrap();
    let pg_pid = pg.id();
    for (name, md5) in &roles {
        // PostgreSQL keeps an `md5…` value as the stored hash, as compute_ctl relies on.
        let sql = format!("ALTER ROLE \"{name}\" PASSWORD 'md5{md5}'");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !std::process::Command::new(bins.tool("psql"))
            .args(["-h", socket.to_str().unwrap(), "-p", &port.to_string()])
            .args(["-U", "cloud_admin", "-d", "postgres", "-qc", &sql])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            if std::time::Instant::now() > deadline {
                fail(&format!("could not set the password of role {name}"));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    let http_host = if listen == "127.0.0.1" {
        "127.0.0.1"
    } else {
        "0.0.0.0"
    };
    let server = HttpServer::new(move || {
        App::new().route(
            "/metrics",
            web::get().to(move || async move {
                let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
                let status = if up { "running" } else { "init" };
                HttpResponse::Ok().body(format!(
                    "compute_ctl_up{{build_tag=\"standin\",status=\"{status}\"}} 1\n"
                ))
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .bind((http_host, http_port))
    .unwrap_or_else(|e| fail(&format!("bind {http_port}: {e}")))
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    // Like compute_ctl: SIGTERM/SIGINT → fast shutdown of postgres, then exit.
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    unsafe { libc::kill(pg_pid as i32, libc::SIGINT) };
    let _ = pg.wait();
    if let Some(f) = &port_file {
        let _ = std::fs::remove_file(f);
    }
    handle.stop(false).await;
    std::process::exit(0);
}
