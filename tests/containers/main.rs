//! `wsctl up --containers` end to end on a real container engine: the postgres variant's images
//! (built by compose/build-images.sh), the real wsctl binary, real compose.
//!
//! Without a reachable engine or the images these tests fail and say what is missing; they are
//! skipped only when WSCTL_SKIP_CONTAINER_TESTS=1 says so explicitly.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::Value;

#[path = "../common/mod.rs"]
mod common;

use common::{http, text, wsctl_bin, Stack};

fn engine() -> String {
    std::env::var("WSCTL_ENGINE").unwrap_or_else(|_| "docker".into())
}

/// `false` (after saying so) when the tests are explicitly skipped; panics when they cannot
/// run and nobody said to skip them.
fn can_run() -> bool {
    if std::env::var("WSCTL_SKIP_CONTAINER_TESTS").as_deref() == Ok("1") {
        eprintln!("SKIPPED: container tests (WSCTL_SKIP_CONTAINER_TESTS=1)");
        return false;
    }
    let engine = engine();
    let info = Command::new(&engine).args(["info"]).output();
    if !info.as_ref().is_ok_and(|o| o.status.success()) {
        panic!(
            "the {engine} engine is not reachable, so the container tests cannot run — start \
             dockerd (.ci/run does), or set WSCTL_SKIP_CONTAINER_TESTS=1 to skip them"
        );
    }
    for image in [
        "workspace-stack/postgres:0.1.0",
        "workspace-stack/api:0.1.0",
    ] {
        let ok = Command::new(&engine)
            .args(["image", "inspect", image])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "image {image} is missing — run `cargo build --release && compose/build-images.sh` \
             (or set WSCTL_SKIP_CONTAINER_TESTS=1 to skip these tests)"
        );
    }
    true
}

impl Stack {
    fn project(&self) -> String {
        let state: Value =
            serde_json::from_slice(&std::fs::read(self.dir.join("state.json")).unwrap()).unwrap();
        state["containers"]["project"].as_str().unwrap().to_string()
    }
}

/// Every port binding of every container of `project`: (host ip, host port).
fn bindings(project: &str) -> Vec<(String, String)> {
    let ids = Command::new(engine())
        .args(["ps", "-q", "--filter"])
        .arg(format!("label=com.docker.compose.project={project}"))
        .output()
        .unwrap();
    let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert!(!ids.is_empty(), "project {project} has no containers");
    let out = Command::new(engine())
        .arg("inspect")
        .args(&ids)
        .output()
        .unwrap();
    let all: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut found = Vec::new();
    for c in &all {
        for binds in c["HostConfig"]["PortBindings"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
        {
            for b in binds.as_array().into_iter().flatten() {
                found.push((
                    b["HostIp"].as_str().unwrap_or_default().to_string(),
                    b["HostPort"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    found
}

fn volumes(project: &str) -> Vec<String> {
    let out = Command::new(engine())
        .args(["volume", "ls", "-q", "--filter"])
        .arg(format!("label=com.docker.compose.project={project}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// `status` names how to reach main, and `logs` reads as natively: `name | line`, --tail per
/// service, --since, --json raw.
fn branches_and_logs_read_as_natively(s: &Stack, status: &Value, password: &str) {
    // status names how to reach main, in containers too.
    let branches = status["branches"]
        .as_array()
        .unwrap_or_else(|| panic!("{status}"));
    assert_eq!(branches[0]["name"], "main", "{status}");
    assert_eq!(branches[0]["served"], true, "{status}");
    assert_eq!(branches[0]["api_url"], s.api().as_str(), "{status}");
    assert!(!status.to_string().contains(password), "{status}");

    let logs = |args: &[&str]| {
        let mut all = vec!["logs"];
        all.extend_from_slice(args);
        let o = s.wsctl(&all);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let api = logs(&["workspace-api", "--tail", "3"]);
    let lines: Vec<&str> = api.lines().collect();
    assert!(!lines.is_empty() && lines.len() <= 3, "{api}");
    assert!(
        lines.iter().all(|l| l.starts_with("workspace-api | ")),
        "{api}"
    );
    assert!(!api.contains("{\""), "readable by default: {api}");
    let raw = logs(&["workspace-api", "--tail", "3", "--json"]);
    assert!(raw.lines().any(|l| l.contains("| {\"")), "{raw}");
    assert!(logs(&["--since", "2100-01-01T00:00:00Z"]).is_empty());
    let all = logs(&["--since", "1h"]);
    assert!(all.lines().any(|l| l.starts_with("postgres ")), "{all}");
}

#[test]
fn containers_up_test_down_up_keeps_data() {
    if !can_run() {
        return;
    }
    let s = Stack::new("wsctl-containers-");
    let o = s.up_with(&["--containers"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("0 failed"), "{out}");

    // Secrets: generated, in a 0600 env file, never printed.
    let password = std::fs::read_to_string(s.dir.join("secrets/pg-password")).unwrap();
    let password = password.trim();
    assert!(password.len() >= 32);
    assert!(!out.contains(password), "up must not print the password");
    let env_file = s.dir.join("containers/compose.env");
    let mode = std::fs::metadata(&env_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", env_file.display());
    let env = std::fs::read_to_string(&env_file).unwrap();
    assert!(env.contains(&format!("WS_PG_PASSWORD={password}\n")));
    let compose = std::fs::read_to_string(s.dir.join("containers/postgres.yml")).unwrap();
    assert!(!compose.contains(password));

    // Ports: published on loopback only, exactly the two the stack asked for.
    let project = s.project();
    let mut binds = bindings(&project);
    binds.sort();
    let mut want = vec![
        ("127.0.0.1".to_string(), s.pg_port.to_string()),
        ("127.0.0.1".to_string(), s.api_port.to_string()),
    ];
    want.sort();
    assert_eq!(binds, want);

    let o = s.wsctl(&["status", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let status: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status["phase"], "ready", "{status}");
    let names: Vec<&str> = status["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["name"].as_str())
        .collect();
    assert!(
        names.contains(&"postgres") && names.contains(&"workspace-api"),
        "{status}"
    );

    // The console runs on the host next to the containers: printed by up, answering, in
    // status, and gone after down.
    assert!(out.contains("Console "), "up printed no console URL: {out}");
    let state: Value =
        serde_json::from_slice(&std::fs::read(s.dir.join("state.json")).unwrap()).unwrap();
    let console = format!("http://127.0.0.1:{}", state["console_port"]);
    let health = http().get(format!("{console}/health")).send().unwrap();
    assert!(health.status().is_success(), "{}", health.status());
    assert!(names.contains(&"console"), "{status}");

    branches_and_logs_read_as_natively(&s, &status, password);

    let o = s.wsctl(&["test", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["failed"], 0, "{report}");

    // Data written through the API…
    let created: Value = http()
        .post(format!("{}/api/items", s.api()))
        .json(&serde_json::json!({"title": "kept across down/up", "description": "containers test", "category": "documentacao", "priority": "high"}))
        .send()
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .unwrap();
    let id = created["data"]["id"].as_str().unwrap().to_string();

    let o = s.wsctl(&["down"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(s.wsctl(&["status"]).status.code(), Some(3));
    assert!(
        http().get(format!("{}/health", s.api())).send().is_err(),
        "the API still answers after down"
    );
    assert!(
        http().get(format!("{console}/health")).send().is_err(),
        "the console still answers after down"
    );

    // …is still there after up (which remembers --containers and the ports).
    let o = s.wsctl(&["up"]);
    assert!(o.status.success(), "{}", text(&o));
    let read: Value = http()
        .get(format!("{}/api/items/{id}", s.api()))
        .send()
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(read["data"]["title"], "kept across down/up");

    let o = s.wsctl(&["down"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!volumes(&project).is_empty(), "down must keep the volumes");
    let o = s.wsctl(&["down", "--purge", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        volumes(&project).is_empty(),
        "purge left volumes: {:?}",
        volumes(&project)
    );
    assert!(!s.dir.exists());
}

#[test]
fn branch_switch_recreates_the_api_container_on_the_branch() {
    if !can_run() {
        return;
    }
    let s = Stack::new("wsctl-containers-");
    let o = s.up_with(&["--containers"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = s.wsctl(&["branch", "create", "dev"]);
    assert!(o.status.success(), "{}", text(&o));
    // Only on main from here on; dev keeps its copy without it.
    let created: Value = http()
        .post(format!("{}/api/items", s.api()))
        .json(&serde_json::json!({"title": "main only", "description": "d", "category": "documentacao", "priority": "low"}))
        .send()
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .unwrap();
    let id = created["data"]["id"].as_str().unwrap().to_string();
    let o = s.wsctl(&["branch", "switch", "dev"]);
    assert!(o.status.success(), "{}", text(&o));
    let code = http()
        .get(format!("{}/api/items/{id}", s.api()))
        .send()
        .unwrap()
        .status();
    assert_eq!(code, 404, "the API should serve dev, which lacks the item");
    let o = s.wsctl(&["branch", "switch", "main"]);
    assert!(o.status.success(), "{}", text(&o));
    let code = http()
        .get(format!("{}/api/items/{id}", s.api()))
        .send()
        .unwrap()
        .status();
    assert_eq!(code, 200);
    let o = s.wsctl(&["test"]);
    assert!(o.status.success(), "{}", text(&o));

    // An import (backup by pg_dump over the published port), its cutover, and the rollback
    // to before it, on the containers as natively.
    let url = String::from_utf8(s.wsctl(&["url"]).stdout).unwrap();
    let (base, _) = url.trim().rsplit_once('/').unwrap();
    let source = format!("{base}/legacy");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let connect = |u: String| async move {
            let (c, conn) = tokio_postgres::connect(&u, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            c
        };
        let admin = connect(url.trim().to_string()).await;
        admin.batch_execute("CREATE DATABASE legacy").await.unwrap();
        connect(source.clone())
            .await
            .batch_execute(
                "CREATE SCHEMA workspace;
                 CREATE TABLE workspace.workspace_categories (name TEXT PRIMARY KEY, display_name TEXT NOT NULL);
                 INSERT INTO workspace.workspace_categories VALUES ('documentacao', 'Documentação');
                 CREATE TABLE workspace.workspace_items (id SERIAL PRIMARY KEY, title TEXT NOT NULL,
                   category TEXT NOT NULL, priority TEXT NOT NULL, status TEXT NOT NULL);
                 INSERT INTO workspace.workspace_items (title, category, priority, status)
                   SELECT 'old ' || g, 'documentacao', 'low', 'new' FROM generate_series(1, 40) g;",
            )
            .await
            .unwrap();
    });
    let total = || -> u64 {
        let v: Value = http()
            .get(format!("{}/api/items?limit=1", s.api()))
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["total"].as_u64().unwrap()
    };
    let before = total();
    let o = s.wsctl(&["import", "--from", &source, "--cutover"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(total(), 40);
    let o = s.wsctl(&["rollback"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(total(), before);
}

/// Builds the stand-in images (tag `standin`) from the example binary.
fn build_standin_images() {
    let standin = std::path::Path::new(wsctl_bin())
        .parent()
        .unwrap()
        .join("examples/neon_standin");
    assert!(
        standin.is_file(),
        "build the stand-in first: cargo build --examples"
    );
    let ctx = tempfile::tempdir().unwrap();
    std::fs::copy(&standin, ctx.path().join("neon_standin")).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/containers/standin.Dockerfile"
        ),
        ctx.path().join("Dockerfile"),
    )
    .unwrap();
    let o = Command::new(engine())
        .args(["build", "-q", "-t", "workspace-stack/compute:standin"])
        .arg(ctx.path())
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "building the stand-in image: {}",
        text(&o)
    );
    for (from, to) in [
        ("compute:standin", "storage-broker:standin"),
        ("compute:standin", "pageserver:standin"),
        ("compute:standin", "safekeeper:standin"),
        ("api:0.1.0", "api:standin"),
    ] {
        let o = Command::new(engine())
            .args(["tag"])
            .arg(format!("workspace-stack/{from}"))
            .arg(format!("workspace-stack/{to}"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
}

/// The Neon variant (compose/workspace-stack.yml, three safekeepers) on STAND-INS of Neon's
/// programs: the compose file, the generated configs, the upcall answerer container, the
/// tenant attach and timeline creation through published ports, a branch's compute service,
/// and down/up keeping the data. Not Neon itself: the stand-in compute is a plain PostgreSQL.
#[test]
fn neon_variant_on_standins() {
    if !can_run() {
        return;
    }
    build_standin_images();
    let s = Stack::new("wsctl-containers-");
    neon_standins_come_up_and_serve_items(&s);
    a_branch_snapshot_and_rollback_work_on_standins(&s);
    down_and_up_reattach_the_same_tenant(&s);
}

/// `wsctl` on this stack's state, with the stand-in images and auto-chosen Neon ports.
fn wsctl_on_standins(s: &Stack, args: &[&str]) -> std::process::Output {
    Command::new(wsctl_bin())
        .arg("--state-dir")
        .arg(&s.dir)
        .args(args)
        .env_remove("WSCTL_STATE_DIR")
        .env("WSCTL_IMAGE_TAG", "standin")
        .env("WSCTL_NEON_PORTS", "auto")
        .output()
        .unwrap()
}

/// Up with three safekeepers: the health suite passes, ports are on loopback, and an item
/// is written and read back.
fn neon_standins_come_up_and_serve_items(s: &Stack) {
    let wsctl = |args: &[&str]| wsctl_on_standins(s, args);
    let o = wsctl(&[
        "up",
        "--containers",
        "--backend",
        "neon",
        "--safekeepers",
        "3",
        "--pg-port",
        &s.pg_port.to_string(),
        "--api-port",
        &s.api_port.to_string(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    for check in [
        "PASS  safekeeper-3 /v1/status",
        "PASS  pageserver /v1/status",
        "PASS  compute on the stack's tenant and timeline",
        "0 failed",
    ] {
        assert!(out.contains(check), "{check}: {out}");
    }
    assert!(bindings(&s.project())
        .iter()
        .all(|(ip, _)| ip == "127.0.0.1"));
    let created: Value = http()
        .post(format!("{}/api/items", s.api()))
        .json(&serde_json::json!({"title": "on neon", "description": "d", "category": "documentacao", "priority": "low"}))
        .send()
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .unwrap();
    let id = created["data"]["id"].as_str().unwrap().to_string();
    let read = http()
        .get(format!("{}/api/items/{id}", s.api()))
        .send()
        .unwrap()
        .status();
    assert_eq!(read, 200);
}

/// A branch gets a healthy compute service; a snapshot and rollback keep the compute on
/// the stack's timeline.
fn a_branch_snapshot_and_rollback_work_on_standins(s: &Stack) {
    let wsctl = |args: &[&str]| wsctl_on_standins(s, args);
    let o = wsctl(&["branch", "create", "dev"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = wsctl(&["status", "--json"]);
    let status: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        status["services"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["name"] == "compute-dev" && x["health"] == "healthy"),
        "{status}"
    );
    let o = wsctl(&["branch", "delete", "dev", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));

    // A snapshot and a rollback: the watcher re-creates main's compute on the new timeline,
    // and the health suite checks that it runs there.
    let o = wsctl(&["snapshot", "create", "s1"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = wsctl(&["rollback", "--to", "s1"]);
    assert!(
        o.status.success() && text(&o).contains("PASS  compute on the stack's tenant and timeline"),
        "{}",
        text(&o)
    );
}

/// Down and up bring the same tenant back with a higher generation, and the health suite
/// passes again.
fn down_and_up_reattach_the_same_tenant(s: &Stack) {
    let wsctl = |args: &[&str]| wsctl_on_standins(s, args);
    // The upcall answerer's generations, from its volume.
    let generations = || -> Value {
        let o = wsctl(&["status", "--json"]);
        let status: Value = serde_json::from_slice(&o.stdout).unwrap();
        let upcall = status["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == "upcall")
            .and_then(|x| x["container"].as_str())
            .unwrap_or_else(|| panic!("no upcall container: {status}"))
            .to_string();
        let o = Command::new(engine())
            .args(["exec", &upcall, "cat", "/data/generations.json"])
            .output()
            .unwrap();
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
    };
    let before = generations();
    let state: Value =
        serde_json::from_slice(&std::fs::read(s.dir.join("state.json")).unwrap()).unwrap();
    assert_eq!(before["tenants"][0], state["neon"]["tenant_id"], "{before}");

    let o = wsctl(&["down"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = wsctl(&["up"]);
    assert!(o.status.success(), "{}", text(&o));
    // The same tenant came back through re-attach with a higher generation (the stand-in
    // compute is a fresh PostgreSQL on every start, so item data is not compared here).
    let after = generations();
    assert_eq!(after["tenants"], before["tenants"]);
    assert!(
        after["generation"].as_u64() > before["generation"].as_u64(),
        "{before} → {after}"
    );
    let o = wsctl(&["test"]);
    assert!(o.status.success(), "{}", text(&o));
}
