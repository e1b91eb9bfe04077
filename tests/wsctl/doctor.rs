//! `wsctl doctor` against real breakage: files a dead supervisor left, a port someone else
//! holds, a postmaster of the data directory running on its own, a data directory others
//! can read, a schema newer than the binary, an API that stopped answering, missing binaries
//! and an unreachable container engine; `--fix` repairs only the safe ones.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use serde_json::Value;
use workspace_stack::stack::connection::pg_config;
use workspace_stack::stack::state::StateDir;

use super::branch::rt;
use super::{text, Stack};

fn doctor(s: &Stack, extra: &[&str]) -> (bool, Value) {
    let mut args = vec!["doctor", "--json"];
    args.extend_from_slice(extra);
    let o = s.wsctl(&args);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    (o.status.success(), v)
}

/// The findings of `check` that are not ok.
fn problems(v: &Value, check: &str) -> Vec<Value> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == check && f["severity"] != "ok")
        .cloned()
        .collect()
}

fn main_sql(s: &Stack, sql: &str) {
    let dir = StateDir {
        root: s.dir.clone(),
    };
    let state = dir.load().unwrap().unwrap();
    rt().block_on(async {
        let c = workspace_stack::db::connect(&pg_config(&dir, &state, &state.database).unwrap())
            .await
            .unwrap();
        c.batch_execute(sql).await.unwrap();
    });
}

#[test]
fn doctor_on_a_running_stack_finds_a_schema_ahead_or_behind_and_an_api_that_does_not_answer() {
    let s = super::stack();
    assert!(s.up().status.success());
    let (ok, v) = doctor(&s, &[]);
    assert!(ok, "{v:#}");
    assert_eq!(v["running"], true);
    for check in ["state", "schema", "api", "binaries", "data directory"] {
        assert!(
            v["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["check"] == check && f["severity"] == "ok"),
            "{check}: {v:#}"
        );
    }

    // Free space depends on the machine; the check is there and names the file system.
    let disk = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "disk")
        .unwrap();
    assert!(
        disk["message"].as_str().unwrap().contains("MiB free"),
        "{disk}"
    );

    main_sql(&s, "INSERT INTO workspace_stack.schema_migrations (version, name, checksum, execution_ms) VALUES (999, 'future', 'x', 0)");
    let (ok, v) = doctor(&s, &[]);
    let p = problems(&v, "schema");
    assert!(!ok && p.len() == 1, "{v:#}");
    assert!(
        p[0]["message"]
            .as_str()
            .unwrap()
            .contains("ahead of this wsctl (version 999"),
        "{p:?}"
    );
    main_sql(
        &s,
        "DELETE FROM workspace_stack.schema_migrations WHERE version = 999",
    );
    // Behind: the newest migration not recorded (put back afterwards).
    main_sql(
        &s,
        "CREATE TABLE public.saved AS SELECT * FROM workspace_stack.schema_migrations \
          WHERE version = (SELECT max(version) FROM workspace_stack.schema_migrations); \
         DELETE FROM workspace_stack.schema_migrations \
          WHERE version = (SELECT version FROM public.saved)",
    );
    let (ok, v) = doctor(&s, &[]);
    let p = problems(&v, "schema");
    assert!(
        ok && p.len() == 1 && p[0]["severity"] == "warning",
        "a warning: {v:#}"
    );
    assert!(
        p[0]["message"].as_str().unwrap().contains("behind")
            && p[0]["fix"].as_str().unwrap().contains("wsctl migrate"),
        "{p:?}"
    );
    main_sql(
        &s,
        "INSERT INTO workspace_stack.schema_migrations SELECT * FROM public.saved; \
         DROP TABLE public.saved",
    );

    // A stopped (SIGSTOP) API: the database answers, the API does not.
    let api = s.pid_of("workspace-api");
    unsafe { libc::kill(api as i32, libc::SIGSTOP) };
    let (ok, v) = doctor(&s, &[]);
    unsafe { libc::kill(api as i32, libc::SIGCONT) };
    let p = problems(&v, "api");
    assert!(!ok && p.len() == 1, "{v:#}");
    assert!(
        p[0]["message"]
            .as_str()
            .unwrap()
            .contains("not healthy while the database is healthy"),
        "{p:?}"
    );
    assert!(
        p[0]["fix"]
            .as_str()
            .unwrap()
            .contains("wsctl logs workspace-api"),
        "{p:?}"
    );

    let o = s.wsctl(&["doctor"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn doctor_fix_repairs_leftovers_and_a_stray_postmaster_but_not_a_busy_port() {
    let s = super::stack();
    assert!(s.up().status.success());
    assert!(s.wsctl(&["down"]).status.success());
    // What a supervisor killed with -9 in the middle of a write leaves.
    std::fs::write(s.dir.join("supervisor.pid"), "999999").unwrap();
    std::fs::write(s.dir.join("status.json"), "{\"phase\": \"rea").unwrap();
    std::fs::write(s.dir.join(".state.json.tmp999999"), "{\"version\"").unwrap();
    let data = s.dir.join("postgres/data");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o750)).unwrap();
    let busy = std::net::TcpListener::bind(("127.0.0.1", s.api_port)).unwrap();

    // A postmaster of this data directory, started behind wsctl's back.
    let meta = std::fs::metadata(&data).unwrap();
    let state: Value =
        serde_json::from_slice(&std::fs::read(s.dir.join("state.json")).unwrap()).unwrap();
    let bin = std::path::PathBuf::from(state["pg_bin"].as_str().unwrap());
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut stray = Command::new(bin.join("postgres"));
    stray
        .arg("-D")
        .arg(&data)
        .args(["-c", "listen_addresses=", "-c"])
        .arg(format!(
            "unix_socket_directories={}",
            s.dir.join("postgres/socket").display()
        ))
        .uid(meta.uid())
        .gid(meta.gid())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut stray = stray.spawn().unwrap();
    super::wait_until(
        "the stray postmaster",
        std::time::Duration::from_secs(20),
        || {
            data.join("postmaster.pid").exists()
                && std::fs::read_to_string(data.join("postmaster.pid"))
                    .is_ok_and(|t| t.lines().count() > 7)
        },
    );
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o750)).unwrap();

    let (ok, v) = doctor(&s, &[]);
    assert!(!ok, "{v:#}");
    assert_eq!(problems(&v, "leftovers").len(), 3, "{v:#}");
    let pm = problems(&v, "postmaster");
    assert!(
        pm.len() == 1
            && pm[0]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("pid {}", stray.id())),
        "{v:#}"
    );
    let port = problems(&v, "ports");
    let me = format!(
        "port {} (wanted by workspace-api) is in use by pid {}",
        s.api_port,
        std::process::id()
    );
    assert!(
        port.len() == 1 && port[0]["message"].as_str().unwrap().contains(&me),
        "{v:#}"
    );
    assert_eq!(port[0]["fixable"], false);
    assert!(
        port[0]["fix"].as_str().unwrap().contains("--api-port"),
        "{port:?}"
    );
    assert!(
        problems(&v, "data directory")[0]["message"]
            .as_str()
            .unwrap()
            .contains("mode 750"),
        "{v:#}"
    );

    let (ok, v) = doctor(&s, &["--fix"]);
    assert!(!ok, "the busy port is not fixed: {v:#}");
    // --fix stopped it (fast shutdown): it is gone.
    stray.wait().unwrap();
    assert!(!s.dir.join("supervisor.pid").exists() && !s.dir.join("status.json").exists());
    assert!(!s.dir.join(".state.json.tmp999999").exists() && s.dir.join("state.json").exists());
    assert_eq!(
        std::fs::metadata(&data).unwrap().permissions().mode() & 0o777,
        0o700
    );

    drop(busy);
    let (ok, v) = doctor(&s, &[]);
    assert!(ok, "{v:#}");
    let o = s.up();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn doctor_names_missing_binaries_an_unreachable_engine_and_a_corrupt_state_file() {
    let s = super::stack();
    assert!(s.up().status.success());
    assert!(s.wsctl(&["down"]).status.success());
    let path = s.dir.join("state.json");
    let mut state: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let original = state.clone();
    state["pg_bin"] = "/nonexistent/bin".into();
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
    let (ok, v) = doctor(&s, &[]);
    let p = problems(&v, "binaries");
    assert!(
        !ok && p[0]["message"]
            .as_str()
            .unwrap()
            .contains("no initdb in /nonexistent/bin"),
        "{v:#}"
    );

    state = original.clone();
    state["containers"] =
        serde_json::json!({"compose": ["false"], "engine": "false", "project": "x"});
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
    let o = Command::new(super::wsctl_bin())
        .arg("--state-dir")
        .arg(&s.dir)
        .args(["doctor", "--json"])
        .env("WSCTL_COMPOSE", "false")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = problems(&v, "containers");
    assert!(
        !o.status.success() && p[0]["message"].as_str().unwrap().contains("does not run"),
        "{v:#}"
    );

    std::fs::write(&path, "{\"version\": 1, \"back").unwrap();
    let o = s.wsctl(&["doctor"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("state.json is corrupt") && text(&o).contains("fix: "),
        "{}",
        text(&o)
    );
    std::fs::write(&path, serde_json::to_vec(&original).unwrap()).unwrap();
}
