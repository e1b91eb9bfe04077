//! The compute_ctl stand-in. Like compute_ctl at 6a35a3e9 it serves HTTP first on `[::]`
//! (compute_tools/src/http/server.rs:186-198, compute.rs:640-663), removes and re-creates
//! `--pgdata` before starting postgres (compute.rs:1201-1217), exits when its postgres exits
//! (compute.rs:703-748), and on SIGTERM/SIGINT/SIGQUIT sends SIGINT to postgres and exits with
//! 1 at once, without waiting (bin/compute_ctl.rs:298-303, 362-366; compute.rs:2922-2929).
//!
//! Where it differs: postgres is a plain PostgreSQL, and with a stand-in store `--pgdata` is
//! re-created as a link to the timeline's data there (Neon fetches a basebackup into the
//! fresh directory instead), so data outlives the compute as it does on a pageserver.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};

use crate::fixtures::fixture;
use crate::{fail, record, require};

fn check_config(config: &Value) {
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
}

/// compute_ctl runs these from the directory of `--pgbin` (extension_server.rs:91-105 panics
/// without pg_config).
fn check_pgbin(pgbin: &Path) {
    let bin = pgbin.parent().unwrap_or(Path::new("."));
    for tool in ["postgres", "pg_config", "pg_ctl", "initdb", "pg_isready"] {
        if !bin.join(tool).exists() {
            fail(&format!("--pgbin: {} has no {tool}", bin.display()));
        }
    }
}

/// The metrics text compute_ctl serves, with `status` as given (the fixture is `running`).
fn metrics(status: &str) -> String {
    fixture!("compute_ctl/GET_metrics.running.txt")
        .replace("status=\"running\"", &format!("status=\"{status}\""))
}

/// Binds `[::]` as compute_ctl does, else every IPv4 interface where IPv6 is off.
fn server(port: u16, status: Arc<AtomicBool>) -> actix_web::dev::Server {
    let app = move || {
        let status = status.clone();
        App::new()
            .route(
                "/metrics",
                web::get().to(move || {
                    let running = status.load(Ordering::SeqCst);
                    async move {
                        HttpResponse::Ok()
                            .content_type("text/plain; version=0.0.4")
                            .body(metrics(if running { "running" } else { "init" }))
                    }
                }),
            )
            // Every other known route needs a JWT; without one: 400 (authorize.rs:79-127).
            .route(
                "/status",
                web::get().to(|| async {
                    HttpResponse::BadRequest()
                        .content_type("application/json")
                        .body(fixture!("compute_ctl/GET_status.400_no_token.json"))
                }),
            )
            .default_service(web::to(HttpResponse::NotFound))
    };
    let s = HttpServer::new(app.clone()).workers(1).disable_signals();
    let s = match s.bind(("::", port)) {
        Ok(s) => s,
        Err(_) => HttpServer::new(app)
            .workers(1)
            .disable_signals()
            .bind(("0.0.0.0", port))
            .unwrap_or_else(|e| fail(&format!("bind {port}: {e}"))),
    };
    s.run()
}

pub async fn run(args: Vec<String>) {
    let pgdata = PathBuf::from(require(&args, "--pgdata"));
    let connstr = require(&args, "--connstr");
    let pgbin = PathBuf::from(require(&args, "--pgbin"));
    let _id = require(&args, "--compute-id");
    let config: Value = serde_json::from_slice(
        &std::fs::read(require(&args, "--config")).unwrap_or_else(|_| fail("cannot read --config")),
    )
    .unwrap_or_else(|e| fail(&format!("--config is not JSON: {e}")));
    let http_port: u16 = require(&args, "--external-http-port").parse().unwrap();
    let internal_port: u16 = require(&args, "--internal-http-port").parse().unwrap();
    check_config(&config);
    check_pgbin(&pgbin);
    let spec = config["spec"].clone();
    if !pgdata.parent().is_some_and(Path::exists) {
        fail("the parent of --pgdata must exist");
    }
    // compute_ctl parses it as a URL (bin/compute_ctl.rs:242) and takes the port from there
    // (compute.rs:1608); rust-postgres then connects with it (compute.rs:569-600).
    let url = url::Url::parse(&connstr)
        .unwrap_or_else(|e| fail(&format!("cannot parse connstr as a URL: {e}")));
    let port = url.port().unwrap_or_else(|| fail("no port in --connstr"));
    let conf = spec["cluster"]["postgresql_conf"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !conf.contains(&format!("port={port}\n")) {
        fail("the postgres port in --connstr must match the one in postgresql_conf");
    }
    record(
        "compute_ctl",
        &args,
        json!({"spec_tenant": spec["tenant_id"]}),
    );
    // HTTP first, before any pgdata work, so /metrics answers during init.
    let running = Arc::new(AtomicBool::new(false));
    let external = server(http_port, running.clone());
    let internal = server(internal_port, running.clone());
    actix_web::rt::spawn(external);
    actix_web::rt::spawn(internal);

    let data = prepare_pgdata(&pgdata, &spec).await;
    write_postgres_conf(&data, &conf, &spec);
    let mut pg = start_postgres(&pgdata, &data);
    let pg_pid = pg.id();
    set_passwords(&connstr, &spec);
    // The port answering alone is not enough: an old postmaster may still hold it.
    let watch = running.clone();
    let exited = Arc::new(AtomicBool::new(false));
    let exited2 = exited.clone();
    let waiter = std::thread::spawn(move || {
        let status = pg.wait().ok();
        exited2.store(true, Ordering::SeqCst);
        status
    });
    let probe = async {
        loop {
            let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            watch.store(up && !exited.load(Ordering::SeqCst), Ordering::SeqCst);
            if exited.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    let sig = |k| tokio::signal::unix::signal(k).unwrap();
    use tokio::signal::unix::SignalKind;
    let (mut term, mut int, mut quit) = (
        sig(SignalKind::terminate()),
        sig(SignalKind::interrupt()),
        sig(SignalKind::quit()),
    );
    tokio::select! {
        _ = term.recv() => forward_and_exit(pg_pid, &data),
        _ = int.recv() => forward_and_exit(pg_pid, &data),
        _ = quit.recv() => forward_and_exit(pg_pid, &data),
        _ = probe => {}
    }
    // postgres exited by itself: compute_ctl waits for it, sleeps 300 ms and exits with its
    // code (compute.rs:703-748, bin/compute_ctl.rs:282-286).
    let status = waiter.join().ok().flatten();
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::process::exit(status.and_then(|s| s.code()).unwrap_or(1));
}

/// SIGINT to postgres, exit(1) now. `NEON_STANDIN_PG_STOP_DELAY_MS` models a postgres whose
/// fast shutdown takes that long (a shutdown checkpoint, WAL still going to the
/// safekeepers): the SIGINT then reaches it that much later, after compute_ctl has gone.
fn forward_and_exit(pg_pid: u32, data: &Path) -> ! {
    let delay: u64 = std::env::var("NEON_STANDIN_PG_STOP_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if delay == 0 {
        unsafe { libc::kill(pg_pid as i32, libc::SIGINT) };
    } else {
        // A detached helper, so that nothing of compute_ctl waits for postgres.
        let _ = std::process::Command::new(std::env::current_exe().unwrap())
            .env("NEON_STANDIN_ROLE", "delayed-sigint")
            .args([
                pg_pid.to_string(),
                delay.to_string(),
                data.display().to_string(),
            ])
            .stdin(std::process::Stdio::null())
            .spawn();
    }
    std::process::exit(1)
}

/// The helper: after the delay, SIGINT the postmaster if it still owns the data directory.
pub fn delayed_sigint(args: &[String]) -> ! {
    let pid: i32 = args[0].parse().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(args[1].parse().unwrap()));
    let owner = std::fs::read_to_string(Path::new(&args[2]).join("postmaster.pid"))
        .ok()
        .and_then(|t| t.lines().next()?.trim().parse::<i32>().ok());
    if owner == Some(pid) {
        unsafe { libc::kill(pid, libc::SIGINT) };
    }
    std::process::exit(0)
}

/// Removes `pgdata` and re-creates it (a link into the store when there is one); returns the
/// directory postgres really runs in.
async fn prepare_pgdata(pgdata: &Path, spec: &Value) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    // remove_dir_all does not follow a link, it removes the link (as Neon ignores errors).
    let _ = std::fs::remove_file(pgdata);
    let _ = std::fs::remove_dir_all(pgdata);
    let timeline = spec["timeline_id"].as_str().unwrap().to_string();
    let data = match crate::store() {
        Some(store) => {
            let data = store.join(&timeline);
            if !data.join("PG_VERSION").exists() {
                crate::inherit_data(&store, spec, &timeline).await;
            }
            if !data.join("PG_VERSION").exists() {
                initdb(&data);
            }
            std::os::unix::fs::symlink(&data, pgdata)
                .unwrap_or_else(|e| fail(&format!("link {}: {e}", pgdata.display())));
            data
        }
        None => {
            initdb(pgdata);
            pgdata.to_path_buf()
        }
    };
    let _ = std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700));
    data
}

fn initdb(dir: &Path) {
    let bins = workspace_stack::stack::postgres::PgBinaries::discover(None)
        .unwrap_or_else(|e| fail(&format!("{e:#}")));
    let out = std::process::Command::new(bins.tool("initdb"))
        .args([
            "-D",
            dir.to_str().unwrap(),
            "-U",
            "cloud_admin",
            "--auth=trust",
            "--no-sync",
        ])
        .args(["-E", "UTF8", "--locale=C"])
        .output()
        .unwrap();
    if !out.status.success() {
        fail(&format!("initdb: {}", String::from_utf8_lossy(&out.stderr)));
    }
}

/// Lines of the spec's `postgresql_conf` a plain PostgreSQL cannot start with: the neon library
/// and its GUCs, and the walproposer as synchronous standby (every commit would wait for it).
const NEON_ONLY: [&str; 4] = [
    "shared_preload_libraries",
    "synchronous_standby_names",
    "max_replication_write_lag",
    "max_replication_flush_lag",
];

/// postgresql.conf as compute_ctl writes it (compute_tools/src/config.rs:59-250): the spec's
/// `postgresql_conf` as is, the storage settings, then `cluster.settings` between its markers,
/// so a setting there wins. Neon builds PostgreSQL with upstream's socket directory, /tmp
/// (src/include/pg_config_manual.h, DEFAULT_PGSOCKET_DIR); Debian's build uses
/// /var/run/postgresql instead, so the stand-in writes /tmp before the settings.
fn write_postgres_conf(data: &Path, conf: &str, spec: &Value) {
    let mut out = String::new();
    for line in conf.lines() {
        let name = line.split('=').next().unwrap_or_default().trim();
        if NEON_ONLY.contains(&name) {
            out.push_str("# stand-in, plain PostgreSQL: ");
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("# Neon storage settings\n");
    for key in ["tenant_id", "timeline_id"] {
        out.push_str(&format!("neon.{key}='{}'\n", spec[key].as_str().unwrap()));
    }
    out.push_str("unix_socket_directories='/tmp'\n");
    if let Some(settings) = spec["cluster"]["settings"].as_array() {
        out.push_str("# Managed by compute_ctl: begin\n");
        for s in settings {
            let (name, value) = (s["name"].as_str().unwrap(), s["value"].as_str());
            // pg_helpers.rs:73-82: strings quoted and escaped, anything else as is.
            match (value, s["vartype"].as_str()) {
                (None, _) => out.push_str(name),
                (Some(v), Some("string")) => out.push_str(&format!(
                    "{name} = '{}'",
                    v.replace('\'', "''").replace('\\', "\\\\")
                )),
                (Some(v), _) => out.push_str(&format!("{name} = {v}")),
            }
            out.push('\n');
        }
        out.push_str("# Managed by compute_ctl: end\n");
    }
    out.push_str("include_if_exists = 'compute_ctl_temp_override.conf'\n");
    std::fs::write(data.join("postgresql.conf"), out)
        .unwrap_or_else(|e| fail(&format!("write postgresql.conf: {e}")));
}

fn start_postgres(pgdata: &Path, data: &Path) -> std::process::Child {
    let bins = workspace_stack::stack::postgres::PgBinaries::discover(None)
        .unwrap_or_else(|e| fail(&format!("{e:#}")));
    // The pg_hba.conf compute_ctl leaves in pgdata: the basebackup's (pageserver/src/
    // basebackup.rs:378-385, libs/postgres_ffi/samples/pg_hba.conf:89-98: trust for the socket,
    // 127.0.0.1 and ::1, which initdb --auth=trust writes alike) plus `host all all all md5`,
    // appended on every start (compute_tools/src/spec.rs:137-164, params.rs:9,
    // compute.rs:1663-1664). An `hba_file` setting makes postgres read another file instead.
    // The spec's roles are `encrypted_password`s: SCRAM verifiers pass md5 lines too.
    let hba_path = data.join("pg_hba.conf");
    let hba_has = std::fs::read_to_string(&hba_path)
        .unwrap_or_default()
        .contains("host all all all md5");
    if !hba_has {
        let mut hba = std::fs::OpenOptions::new()
            .append(true)
            .open(&hba_path)
            .unwrap();
        writeln!(hba, "host all all all md5").unwrap();
    }
    // Only `-D`, as compute_ctl starts it (compute.rs:1818-1824): the rest is postgresql.conf.
    std::process::Command::new(bins.tool("postgres"))
        .args(["-D", pgdata.to_str().unwrap()])
        .spawn()
        .unwrap()
}

/// Stores each spec role's password, connecting as compute_ctl does: with `--connstr`.
fn set_passwords(connstr: &str, spec: &Value) {
    let bins = workspace_stack::stack::postgres::PgBinaries::discover(None)
        .unwrap_or_else(|e| fail(&format!("{e:#}")));
    let roles = spec["cluster"]["roles"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for r in roles {
        let (Some(name), Some(pass)) = (r["name"].as_str(), r["encrypted_password"].as_str())
        else {
            continue;
        };
        // A SCRAM verifier as given, anything else as an md5 hash (pg_helpers.rs:151-161);
        // PostgreSQL stores either as the hash, as compute_ctl relies on.
        let stored = match pass.starts_with("SCRAM-SHA-256") {
            true => pass.to_string(),
            false => format!("md5{pass}"),
        };
        let sql = format!("ALTER ROLE \"{name}\" PASSWORD '{stored}'");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !std::process::Command::new(bins.tool("psql"))
            .args([connstr, "-qc", &sql])
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
}
