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

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};

mod auth;
mod compute;
mod fixtures;
mod pageserver;

use fixtures::fixture;

pub fn generate_id() -> String {
    workspace_stack::stack::neon::generate_id()
}

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
pub fn store() -> Option<PathBuf> {
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
pub fn branch_data(ancestor: &str, new: &str) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    let Some(store) = store() else { return Ok(()) };
    let (src, dst) = (store.join(ancestor), store.join(new));
    let Ok(meta) = std::fs::metadata(&src) else {
        return Ok(()); // the ancestor never ran a compute: the child starts empty too
    };
    let _ = std::fs::remove_dir_all(&dst);
    // The ancestor's compute, if one runs on its data: postmaster.pid names its pid (line 1),
    // port (line 4) and socket directory (line 5). The copy goes through that socket, as the
    // computes' owner: the compute trusts no TCP login without a password.
    let running = std::fs::read_to_string(src.join("postmaster.pid"))
        .ok()
        .and_then(|t| {
            let lines: Vec<&str> = t.lines().collect();
            let pid: i32 = lines.first()?.trim().parse().ok()?;
            let port: u16 = lines.get(3)?.trim().parse().ok()?;
            let socket = lines.get(4)?.trim().to_string();
            (unsafe { libc::kill(pid, 0) } == 0).then_some((port, socket))
        })
        .filter(|(p, _)| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok());
    let mut cmd = if let Some((port, socket)) = running {
        let bins = workspace_stack::stack::postgres::PgBinaries::discover(None)
            .map_err(|e| format!("{e:#}"))?;
        let mut c = std::process::Command::new(bins.tool("pg_basebackup"));
        c.args([
            "-D",
            dst.to_str().unwrap(),
            "-h",
            &socket,
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
    if std::env::var("NEON_STANDIN_ROLE").as_deref() == Ok("delayed-sigint") {
        compute::delayed_sigint(&args[1..]);
    }
    let program = Path::new(&args[0])
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let rest = args[1..].to_vec();
    match program.as_str() {
        "storage_broker" => broker(rest).await,
        "safekeeper" => safekeeper(rest).await,
        "pageserver" => pageserver::run(rest).await,
        "compute_ctl" => compute::run(rest).await,
        other => fail(&format!("unknown stand-in name {other}")),
    }
}

/// storage_broker: `GET /status` is 200 with an empty body; every other HTTP/1 request,
/// HEAD /status included, is 404 with an empty body (storage_broker.rs:635-662).
async fn broker(args: Vec<String>) {
    let listen = require(&args, "--listen-addr");
    record("storage_broker", &args, json!({}));
    HttpServer::new(|| {
        App::new()
            .route("/status", web::get().to(HttpResponse::Ok))
            .default_service(web::to(HttpResponse::NotFound))
    })
    .workers(1)
    .bind(addr(&listen))
    .unwrap_or_else(|e| fail(&format!("bind {listen}: {e}")))
    .run()
    .await
    .unwrap();
}

fn sk_json(status: actix_web::http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .insert_header(("x-request-id", generate_id()))
        .body(body)
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
    // `--remote-storage` is a TOML inline table (safekeeper/src/bin/safekeeper.rs:833-835).
    if let Some(rs) = flag(&args, "--remote-storage") {
        let t: toml::Value = toml::from_str(&format!("x = {rs}"))
            .unwrap_or_else(|e| fail(&format!("--remote-storage is not a TOML inline table: {e}")));
        if t["x"].get("bucket_name").is_none() || t["x"].get("bucket_region").is_none() {
            fail("--remote-storage needs bucket_name and bucket_region");
        }
    }
    std::fs::write(dir.join("safekeeper.id"), id.to_string()).unwrap();
    let _pg =
        std::net::TcpListener::bind(addr(&pg)).unwrap_or_else(|e| fail(&format!("bind {pg}: {e}")));
    record("safekeeper", &args, json!({"id": id}));
    let auth = web::Data::new(auth::Auth::load(
        flag(&args, "--http-auth-public-key-path").as_deref(),
        auth::Component::Safekeeper,
    ));
    let deleted = std::sync::Arc::new(Mutex::new(std::collections::HashSet::<String>::new()));
    HttpServer::new(move || {
        let deleted = deleted.clone();
        App::new()
            .app_data(auth.clone())
            .wrap(actix_web::middleware::from_fn(auth::middleware))
            .route(
                "/v1/status",
                web::get().to(move || async move {
                    let body = fixture!("safekeeper/GET_v1_status.200.json")
                        .replace("\"id\":1", &format!("\"id\":{id}"));
                    sk_json(actix_web::http::StatusCode::OK, body)
                }),
            )
            .route(
                "/v1/tenant/{t}/timeline/{tl}",
                // Always 200 {"dir_existed": bool}, never 404 (timelines_global_map.rs:538-610).
                web::delete().to(move |path: web::Path<(String, String)>| {
                    let deleted = deleted.clone();
                    async move {
                        let (t, tl) = path.into_inner();
                        let first = deleted.lock().unwrap().insert(tl.clone());
                        record(
                            "safekeeper",
                            &[],
                            json!({"id": id, "deleted_timeline": tl, "tenant": t}),
                        );
                        let body = if first {
                            fixture!("safekeeper/DELETE_v1_tenant_id_timeline_id.200.existed.json")
                        } else {
                            fixture!("safekeeper/DELETE_v1_tenant_id_timeline_id.200.absent.json")
                        };
                        sk_json(actix_web::http::StatusCode::OK, body.into())
                    }
                }),
            )
            // No `.any()` route: routerify's plain-text 404 (safekeeper/src/http/routes.rs:703-812).
            .default_service(web::to(|| async {
                HttpResponse::NotFound()
                    .content_type("text/plain")
                    .body(fixture!("safekeeper/ANY_unknown_route.404.txt"))
            }))
    })
    .workers(1)
    .bind(addr(&http))
    .unwrap_or_else(|e| fail(&format!("bind {http}: {e}")))
    .run()
    .await
    .unwrap();
}

/// A timeline that has no data in this store starts from its nearest ancestor's that has,
/// found through the pageserver (`$NEON_STANDIN_PAGESERVER_HTTP`). Where computes keep their
/// own stores (one volume per container) the pageserver could not copy at creation; this gives
/// a rolled-back main the data of the timeline it came from, as it is now.
pub async fn inherit_data(store: &Path, spec: &Value, timeline: &str) {
    let Ok(base) = std::env::var("NEON_STANDIN_PAGESERVER_HTTP") else {
        return;
    };
    let tenant = spec["tenant_id"].as_str().unwrap_or_default();
    // A pageserver with NeonJWT auth answers a tenant's timeline to that tenant's token
    // (pageserver/src/auth.rs:4-14), the one compute_ctl gets as `storage_auth_token`. Without
    // it the answer is 401 and the compute would start empty.
    let token = spec["storage_auth_token"].as_str().map(str::to_string);
    let http = reqwest::Client::new();
    let mut current = timeline.to_string();
    for _ in 0..32 {
        let url = format!("{base}/v1/tenant/{tenant}/timeline/{current}");
        let mut req = http.get(&url);
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        }
        let Ok(r) = req.send().await else {
            return;
        };
        if !r.status().is_success() {
            eprintln!("compute_ctl stand-in: {url} answered {}", r.status());
            return;
        }
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
