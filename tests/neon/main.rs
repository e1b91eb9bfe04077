//! The neon backend against STAND-INS (examples/neon_standin/), not Neon: no Neon binaries
//! exist on these machines. The stand-ins check the flags and config files wsctl writes
//! against Neon's documented contract and serve the documented HTTP API; the compute stand-in
//! runs a plain PostgreSQL, so the API and the health suite run for real on top.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use workspace_stack::stack::neon_auth::Scope;

mod auth;
mod console;

mod lifecycle;

fn wsctl_bin() -> &'static str {
    env!("CARGO_BIN_EXE_wsctl")
}

fn standin() -> PathBuf {
    Path::new(wsctl_bin())
        .parent()
        .unwrap()
        .join("examples/neon_standin")
}

fn free_port() -> u16 {
    workspace_stack::stack::ports::free_port().expect("a free loopback port")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fake Neon install: bin/<program> → the stand-in; pg_install/v17/{bin/<tool>,lib} → the
/// real PostgreSQL's (wsctl checks they are there and stops computes with that pg_ctl).
fn neon_dir(root: &Path) -> PathBuf {
    let neon = root.join("neon-standin");
    std::fs::create_dir_all(neon.join("bin")).unwrap();
    std::fs::create_dir_all(neon.join("pg_install/v17/bin")).unwrap();
    for p in ["storage_broker", "safekeeper", "pageserver", "compute_ctl"] {
        symlink(standin(), neon.join("bin").join(p)).unwrap();
    }
    let pg = workspace_stack::stack::postgres::PgBinaries::discover(None).unwrap();
    for tool in ["postgres", "initdb", "pg_ctl", "pg_isready", "pg_config"] {
        symlink(pg.tool(tool), neon.join("pg_install/v17/bin").join(tool)).unwrap();
    }
    let lib = pg
        .tool("postgres")
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("lib");
    symlink(lib, neon.join("pg_install/v17/lib")).unwrap();
    neon
}

/// The neon stacks pick a dozen free ports each (`WSCTL_NEON_PORTS=auto`); two starting at
/// once could be handed the same released port, so they take turns.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// A token signed with the stack's key, as wsctl mints them (the stack must have been up).
fn token(state: &Path, scope: Scope) -> String {
    let dir = workspace_stack::stack::state::StateDir::resolve(Some(state)).unwrap();
    workspace_stack::stack::neon_auth::token(&dir, None, scope).unwrap()
}

fn invocations(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// One neon stack on the stand-ins, in a temp dir, downed and purged when dropped.
struct NeonStack {
    _tmp: tempfile::TempDir,
    neon: PathBuf,
    log: PathBuf,
    state: PathBuf,
    pg_port: u16,
    api_port: u16,
    env: Vec<(String, String)>,
}

impl NeonStack {
    fn new(prefix: &str) -> NeonStack {
        assert!(
            standin().is_file(),
            "build the stand-in: cargo build --examples"
        );
        let tmp = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let neon = neon_dir(tmp.path());
        let log = tmp.path().join("standin.jsonl");
        std::fs::write(&log, "").unwrap();
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o666)).unwrap();
        // The stand-in keeps each timeline's data here (its computes run unprivileged).
        let store = tmp.path().join("timelines");
        std::fs::create_dir(&store).unwrap();
        std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let state = tmp.path().join("state");
        NeonStack {
            _tmp: tmp,
            neon,
            log,
            state,
            pg_port: free_port(),
            api_port: free_port(),
            env: Vec::new(),
        }
    }

    fn wsctl(&self, args: &[&str]) -> Output {
        Command::new(wsctl_bin())
            .arg("--state-dir")
            .arg(&self.state)
            .args(args)
            .env("NEON_STANDIN_LOG", &self.log)
            .env("WSCTL_NEON_PORTS", "auto")
            // A postgres that takes its time to shut down, as Neon's compute does while it
            // writes its shutdown checkpoint: computes must be stopped, not just signalled.
            .env("NEON_STANDIN_PG_STOP_DELAY_MS", "1500")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap()
    }

    fn up(&self, extra: &[&str]) -> Output {
        let (p, a) = (self.pg_port.to_string(), self.api_port.to_string());
        let mut args = vec![
            "up",
            "--backend",
            "neon",
            "--neon-dir",
            self.neon.to_str().unwrap(),
            "--pg-port",
            &p,
            "--api-port",
            &a,
        ];
        args.extend(extra);
        self.wsctl(&args)
    }
}

impl Drop for NeonStack {
    fn drop(&mut self) {
        let _ = self.wsctl(&["down", "--purge", "--yes"]);
    }
}

#[test]
fn neon_stack_with_three_safekeepers_comes_up_tests_and_reattaches() {
    let _turn = one_at_a_time();
    let s = NeonStack::new("wsctl-neon-");
    let (state, log, api_port) = (&s.state, &s.log, s.api_port);
    let wsctl = |args: &[&str]| s.wsctl(args);
    let up = |extra: &[&str]| {
        let o = s.up(extra);
        (o.status.success(), text(&o))
    };

    let (ok, out) = up(&["--safekeepers", "3"]);
    assert!(
        ok,
        "{out}\n{}",
        std::fs::read_to_string(state.join("logs/supervisor.log")).unwrap_or_default()
    );
    for check in [
        "storage_broker /status",
        "safekeeper-3 /v1/status",
        "pageserver /v1/status",
        "process alive: compute",
        "compute on the stack's tenant and timeline",
        "API item create/read/update/delete",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("PASS") && l.contains(check)),
            "{check} missing in:\n{out}"
        );
    }
    assert!(out.contains("0 failed"), "{out}");

    let st: Value =
        serde_json::from_slice(&std::fs::read(state.join("state.json")).unwrap()).unwrap();
    let tenant = st["neon"]["tenant_id"].as_str().unwrap().to_string();
    let timeline = st["neon"]["timeline_id"].as_str().unwrap().to_string();
    let calls = invocations(log);
    let order: Vec<&str> = calls
        .iter()
        .map(|c| c["program"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "storage_broker",
            "safekeeper",
            "safekeeper",
            "safekeeper",
            "pageserver",
            "compute_ctl"
        ]
    );
    let sk: Vec<u64> = calls
        .iter()
        .filter(|c| c["program"] == "safekeeper")
        .map(|c| c["extra"]["id"].as_u64().unwrap())
        .collect();
    assert_eq!(sk, [1, 2, 3]);
    // First start: nothing to re-attach yet.
    assert_eq!(
        calls[4]["extra"]["reattach"]["tenants"],
        serde_json::json!([])
    );
    assert_eq!(calls[5]["extra"]["spec_tenant"], tenant.as_str());
    let ps_toml = std::fs::read_to_string(state.join("neon/pageserver/pageserver.toml")).unwrap();
    assert!(
        ps_toml.contains("control_plane_api = 'http://127.0.0.1:")
            && ps_toml.contains("/upcall/v1/'"),
        "{ps_toml}"
    );

    // Data written through the API survives down/up, on the same tenant and timeline, which the
    // pageserver gets back through wsctl's re-attach answer.
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let api = format!("http://127.0.0.1:{api_port}");
    let created: Value = http
        .post(format!("{api}/api/items"))
        .json(&serde_json::json!({"title": "on neon", "description": "d", "category": "dashboard", "priority": "low"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(created["data"]["id"].is_string(), "{created}");
    let o = wsctl(&["down"]);
    assert!(o.status.success(), "{}", text(&o));
    let (ok, out) = up(&[]);
    assert!(ok, "{out}");
    let calls = invocations(log);
    let reattach = &calls
        .iter()
        .rev()
        .find(|c| c["program"] == "pageserver")
        .unwrap()["extra"]["reattach"]["tenants"][0];
    assert_eq!(reattach["id"], tenant.as_str());
    assert!(
        reattach["gen"].as_u64().unwrap() >= 2,
        "generations grow: {reattach}"
    );
    let st2: Value =
        serde_json::from_slice(&std::fs::read(state.join("state.json")).unwrap()).unwrap();
    assert_eq!(st2["neon"]["timeline_id"], timeline.as_str());
    let o = wsctl(&["up", "--backend", "neon", "--safekeepers", "1"]);
    assert!(text(&o).contains("already running"), "{}", text(&o));
}

#[test]
fn missing_neon_binaries_say_where_to_get_them() {
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(wsctl_bin())
        .args([
            "--state-dir",
            tmp.path().join("s").to_str().unwrap(),
            "up",
            "--backend",
            "neon",
        ])
        .env("PATH", "/usr/bin:/bin")
        .env_remove("WSCTL_NEON_DIR")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = text(&o);
    assert!(
        err.contains("no Neon binaries found")
            && err.contains("nix develop")
            && err.contains("--neon-dir"),
        "{err}"
    );
}

#[test]
fn branches_are_child_timelines_with_their_own_compute_and_are_deleted_everywhere() {
    let _turn = one_at_a_time();
    let s = NeonStack::new("wsctl-neon-br-");
    let o = s.up(&["--safekeepers", "3"]);
    assert!(o.status.success(), "{}", text(&o));
    create_branches(&s);

    let st: Value =
        serde_json::from_slice(&std::fs::read(s.state.join("state.json")).unwrap()).unwrap();
    let branches = st["neon"]["branches"].as_array().unwrap().clone();
    assert_eq!(branches.len(), 3);
    let feat = branches.iter().find(|b| b["name"] == "feat").unwrap();
    let child = branches.iter().find(|b| b["name"] == "child").unwrap();
    each_branch_has_its_compute_on_its_timeline(&s, feat);
    branches_are_deleted_on_the_pageserver_and_every_safekeeper(&s, feat, child);
    the_health_suite_passes_without_the_deleted_computes(&s);
}

/// `feat` and `past` (at a time) from main, `child` from `feat`; a bad `--at` is refused.
fn create_branches(s: &NeonStack) {
    let wsctl = |args: &[&str]| s.wsctl(args);
    let o = wsctl(&["branch", "create", "feat"]);
    assert!(o.status.success(), "{}", text(&o));
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let o = wsctl(&["branch", "create", "past", "--at", &now]);
    assert!(
        o.status.success() && text(&o).contains("at 0/169AD58"),
        "{}",
        text(&o)
    );
    let o = wsctl(&["branch", "create", "child", "--from", "feat"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = wsctl(&["branch", "create", "bad", "--at", "yesterday"]);
    assert!(
        !o.status.success() && text(&o).contains("neither an LSN"),
        "{}",
        text(&o)
    );
}

/// The branch's compute runs on the branch's timeline, and every branch has a compute
/// service, with the API still last.
fn each_branch_has_its_compute_on_its_timeline(s: &NeonStack, feat: &Value) {
    let c = admin_config(s, feat["pg_port"].as_u64().unwrap() as u16, "postgres");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tl: String = rt.block_on(async {
        let client = workspace_stack::db::connect(&c).await.unwrap();
        client
            .query_one("SELECT current_setting('neon.timeline_id')", &[])
            .await
            .unwrap()
            .get(0)
    });
    assert_eq!(tl, feat["timeline_id"].as_str().unwrap());
    // The pageserver was asked for a child timeline of main at the compute's flush LSN.
    let status: Value =
        serde_json::from_slice(&std::fs::read(s.state.join("status.json")).unwrap()).unwrap();
    let services: Vec<&str> = status["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for svc in [
        "compute",
        "compute-feat",
        "compute-past",
        "compute-child",
        "workspace-api",
    ] {
        assert!(services.contains(&svc), "{svc} in {services:?}");
    }
    assert_eq!(
        services.last(),
        Some(&"workspace-api"),
        "the API stays last so it is stopped first"
    );
}

/// A parent and main are refused; the others go, each from the pageserver and from all
/// three safekeepers.
fn branches_are_deleted_on_the_pageserver_and_every_safekeeper(
    s: &NeonStack,
    feat: &Value,
    child: &Value,
) {
    let wsctl = |args: &[&str]| s.wsctl(args);
    let o = wsctl(&["branch", "delete", "feat", "--yes"]);
    assert!(
        !o.status.success() && text(&o).contains("has children"),
        "{}",
        text(&o)
    );
    let o = wsctl(&["branch", "delete", "main", "--yes"]);
    assert!(
        !o.status.success() && text(&o).contains("cannot be deleted"),
        "{}",
        text(&o)
    );
    for name in ["child", "feat"] {
        let o = wsctl(&["branch", "delete", name, "--yes"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let calls = invocations(&s.log);
    let deleted: Vec<&Value> = calls
        .iter()
        .filter(|c| !c["extra"]["deleted_timeline"].is_null())
        .collect();
    for b in [feat, child] {
        let tl = b["timeline_id"].as_str().unwrap();
        let on_ps = deleted
            .iter()
            .filter(|c| c["program"] == "pageserver" && c["extra"]["deleted_timeline"] == tl)
            .count();
        let on_sk = deleted
            .iter()
            .filter(|c| c["program"] == "safekeeper" && c["extra"]["deleted_timeline"] == tl)
            .count();
        assert_eq!(
            (on_ps, on_sk),
            (1, 3),
            "timeline {tl} deleted on the pageserver and on every safekeeper"
        );
    }
}

/// The health suite passes after the deletes, and the deleted branch's compute is stopped.
fn the_health_suite_passes_without_the_deleted_computes(s: &NeonStack) {
    let state = &s.state;
    let o = s.wsctl(&["test"]);
    let logs =
        |name: &str| std::fs::read_to_string(state.join("logs").join(name)).unwrap_or_default();
    assert!(
        o.status.success(),
        "{}\n--- api log ---\n{}\n--- supervisor log ---\n{}",
        text(&o),
        logs("workspace-api.log"),
        logs("supervisor.log")
    );
    let status: Value =
        serde_json::from_slice(&std::fs::read(state.join("status.json")).unwrap()).unwrap();
    assert!(
        !status.to_string().contains("compute-feat"),
        "the deleted branch's compute is stopped"
    );
}

/// Row counts and content checksums of every workspace table on main, through the compute.
fn main_checksums(s: &NeonStack) -> Vec<(String, i64, String)> {
    let dir = workspace_stack::stack::state::StateDir::resolve(Some(&s.state)).unwrap();
    let state = dir.load().unwrap().unwrap();
    let config =
        workspace_stack::stack::connection::pg_config(&dir, &state, &state.database).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = workspace_stack::db::connect(&config).await.unwrap();
        workspace_stack::branch::checksums(&client).await.unwrap()
    })
}

fn main_sql(s: &NeonStack, sql: &str) {
    let dir = workspace_stack::stack::state::StateDir::resolve(Some(&s.state)).unwrap();
    let state = dir.load().unwrap().unwrap();
    let config =
        workspace_stack::stack::connection::pg_config(&dir, &state, &state.database).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = workspace_stack::db::connect(&config).await.unwrap();
        client.batch_execute(sql).await.unwrap();
    })
}

fn post_item(api_port: u16, title: &str) {
    let r = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{api_port}/api/items"))
        .json(&serde_json::json!({"title": title, "description": "d", "category": "dashboard", "priority": "low"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
}

#[test]
fn snapshots_rollback_and_migrate_are_timeline_operations() {
    let _turn = one_at_a_time();
    let s = NeonStack::new("wsctl-neon-snap-");
    let wsctl = |args: &[&str]| s.wsctl(args);
    let o = s.up(&[]);
    assert!(o.status.success(), "{}", text(&o));
    for i in 0..3 {
        post_item(s.api_port, &format!("before {i}"));
    }
    let at_snapshot = main_checksums(&s);

    let o = wsctl(&["snapshot", "create", "keep"]);
    assert!(o.status.success(), "{}", text(&o));
    for i in 0..4 {
        post_item(s.api_port, &format!("after {i}"));
    }
    let before_rollback = main_checksums(&s);
    assert_ne!(before_rollback, at_snapshot);

    let o = wsctl(&["rollback", "--to", "keep"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        main_checksums(&s),
        at_snapshot,
        "main equals the snapshot row for row"
    );
    // The API reconnected to main's new timeline by itself.
    post_item(s.api_port, "after rollback");

    // The state before the rollback is a snapshot: rolling back to it undoes the rollback.
    let st: Value =
        serde_json::from_slice(&std::fs::read(s.state.join("state.json")).unwrap()).unwrap();
    let snaps = st["neon"]["snapshots"].as_array().unwrap().clone();
    let pre = snaps
        .iter()
        .find(|x| x["automatic"] == true)
        .expect("a pre-rollback snapshot");
    let o = wsctl(&["rollback", "--to", pre["name"].as_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(main_checksums(&s), before_rollback);

    // Each snapshot and rollback created a child timeline; none was copied by wsctl.
    let created: Vec<Value> = invocations(&s.log)
        .into_iter()
        .filter(|c| c["program"] == "compute_ctl")
        .collect();
    assert!(created.len() >= 3, "main's compute restarted per rollback");

    // A snapshot under another timeline cannot go; a leaf snapshot can.
    let o = wsctl(&["snapshot", "delete", "keep", "--yes"]);
    assert!(
        !o.status.success() && text(&o).contains("base of another timeline"),
        "{}",
        text(&o)
    );
    let o = wsctl(&["snapshot", "create", "leaf"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = wsctl(&["snapshot", "delete", "leaf", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = wsctl(&["snapshot", "list"]);
    assert!(
        text(&o).contains("keep") && !text(&o).contains("leaf"),
        "{}",
        text(&o)
    );

    // migrate: a throwaway branch for --check, an automatic snapshot for the real one. The
    // newest migration (idempotent SQL) is made pending first: with nothing pending, migrate
    // does nothing and takes no snapshot.
    let data = main_checksums(&s);
    main_sql(
        &s,
        &format!(
            "DELETE FROM workspace_stack.schema_migrations WHERE version = {}",
            workspace_stack::db::migrations::latest_version()
        ),
    );
    let o = wsctl(&["migrate", "--check"]);
    assert!(
        o.status.success() && text(&o).contains("throwaway branch"),
        "{}",
        text(&o)
    );
    let o = wsctl(&["branch", "list"]);
    assert!(!text(&o).contains("migrate-check"), "{}", text(&o));
    let o = wsctl(&["migrate"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = wsctl(&["snapshot", "list"]);
    assert!(text(&o).contains("before migrate"), "{}", text(&o));
    assert_eq!(main_checksums(&s), data);

    // Data lives on the timeline, not in the compute: down and up keep it.
    let o = wsctl(&["down"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = s.up(&[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(main_checksums(&s), data);
    let o = wsctl(&["test"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn an_import_fills_a_branch_timeline_and_cutover_moves_main_onto_it() {
    let _turn = one_at_a_time();
    let mut s = NeonStack::new("wsctl-neon-import-");
    let o = s.up(&[]);
    assert!(o.status.success(), "{}", text(&o));
    // The source: another database on the same compute, with the stack's password (in the
    // environment, not in argv).
    let password = std::fs::read_to_string(s.state.join("secrets/pg-password")).unwrap();
    let source = format!(
        "postgres://cloud_admin:{}@127.0.0.1:{}/legacy",
        password.trim(),
        s.pg_port
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = admin_config(&s, s.pg_port, "postgres");
        let admin = workspace_stack::db::connect(&c).await.unwrap();
        admin.batch_execute("CREATE DATABASE legacy").await.unwrap();
        let legacy = workspace_stack::db::connect(c.dbname("legacy")).await.unwrap();
        legacy
            .batch_execute(
                "CREATE SCHEMA workspace;
                 CREATE TABLE workspace.workspace_categories (name TEXT PRIMARY KEY, display_name TEXT NOT NULL);
                 INSERT INTO workspace.workspace_categories VALUES ('dashboard', 'Dashboard');
                 CREATE TABLE workspace.workspace_items (id SERIAL PRIMARY KEY, title TEXT NOT NULL,
                   category TEXT NOT NULL, priority TEXT NOT NULL, status TEXT NOT NULL);
                 INSERT INTO workspace.workspace_items (title, category, priority, status)
                   SELECT 'old ' || g, 'dashboard', 'low', 'new' FROM generate_series(1, 250) g;",
            )
            .await
            .unwrap();
    });
    let before = main_checksums(&s);
    s.env.push(("WSCTL_IMPORT_FROM".into(), source));
    let o = s.wsctl(&["import", "--cutover", "--no-backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let after = main_checksums(&s);
    let items = after.iter().find(|t| t.0 == "workspace_items").unwrap();
    assert_eq!(items.1, 250);
    // Main's compute now runs on the import's timeline; the import branch is gone.
    let st: Value =
        serde_json::from_slice(&std::fs::read(s.state.join("state.json")).unwrap()).unwrap();
    assert!(st["neon"]["branches"].as_array().unwrap().is_empty());
    let o = s.wsctl(&["test"]);
    assert!(o.status.success(), "{}", text(&o));
    // The newest automatic snapshot is main before the import.
    let o = s.wsctl(&["rollback"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(main_checksums(&s), before);
}

fn status_json(s: &NeonStack) -> Value {
    serde_json::from_slice(&std::fs::read(s.state.join("status.json")).unwrap()).unwrap()
}

fn service_pid(s: &NeonStack, name: &str) -> Option<u32> {
    status_json(s)["services"]
        .as_array()?
        .iter()
        .find(|x| x["name"] == name)?["pid"]
        .as_u64()
        .map(|p| p as u32)
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main_postmaster(s: &NeonStack) -> Option<u32> {
    // The compute's postgres runs as the account wsctl picks when it is root.
    let owner = workspace_stack::stack::postgres::RunAs::unprivileged()
        .unwrap()
        .map_or_else(|| unsafe { libc::geteuid() }, |u| u.uid);
    workspace_stack::stack::process::postmaster_pid(&s.state.join("neon/compute/pgdata"), owner)
}

/// PostgreSQL on `port` answers a query (not just "the database system is starting up").
fn accepts_queries(s: &NeonStack, port: u16) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = admin_config(s, port, "postgres");
        match workspace_stack::db::connect(&c).await {
            Ok(client) => client.simple_query("SELECT 1").await.is_ok(),
            Err(_) => false,
        }
    })
}

/// The superuser's connection to a compute on `port`, with the stack's password (the compute
/// trusts nobody over TCP).
fn admin_config(s: &NeonStack, port: u16, dbname: &str) -> tokio_postgres::Config {
    let password = std::fs::read_to_string(s.state.join("secrets/pg-password")).unwrap();
    let mut c = tokio_postgres::Config::new();
    c.host("127.0.0.1")
        .port(port)
        .user("cloud_admin")
        .password(password.trim())
        .dbname(dbname);
    c
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// compute_ctl exits at once on SIGTERM and leaves its postgres to finish alone (the stand-in
/// models a slow shutdown): `down`, a crashed compute_ctl's restart and a rollback must each
/// wait for the old postmaster to be gone before anything else takes its pgdata and port.
#[test]
fn computes_are_stopped_with_pg_ctl_before_another_takes_their_port() {
    let _turn = one_at_a_time();
    let s = NeonStack::new("wsctl-neon-stop-");
    let o = s.up(&[]);
    assert!(o.status.success(), "{}", text(&o));
    let old = main_postmaster(&s).expect("main's postmaster runs");

    // A compute_ctl that dies leaves its postmaster behind; the restarted one must own the
    // only postmaster on the pgdata.
    let ctl = service_pid(&s, "compute").unwrap();
    assert!(workspace_stack::stack::process::signal(ctl, libc::SIGKILL));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let owner = loop {
        let now = service_pid(&s, "compute").filter(|p| *p != ctl);
        let pm = main_postmaster(&s).filter(|p| *p != old);
        if let (Some(ctl2), Some(pm)) = (now, pm) {
            if parent_of(pm) == Some(ctl2) && accepts_queries(&s, s.pg_port) {
                break Some((ctl2, pm));
            }
        }
        if std::time::Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (_, pm) = owner.unwrap_or_else(|| {
        panic!(
            "no postmaster owned by the restarted compute_ctl; status {}\n{}",
            status_json(&s),
            std::fs::read_to_string(s.state.join("logs/compute.log")).unwrap_or_default()
        )
    });
    assert!(
        !workspace_stack::stack::process::alive(old),
        "the old postmaster is gone"
    );
    let o = s.wsctl(&["test"]);
    assert!(o.status.success(), "{}", text(&o));

    // compute_ctl's HTTP ports are on every interface (Neon allows nothing else): said so.
    let o = s.wsctl(&["status"]);
    assert!(
        text(&o).contains("reachable from other hosts") && text(&o).contains("[::]"),
        "{}",
        text(&o)
    );
    // `down` returns only when the postmaster has exited and the port is free.
    let o = s.wsctl(&["down"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !workspace_stack::stack::process::alive(pm),
        "postmaster {pm} still runs after down"
    );
    assert!(
        !port_open(s.pg_port),
        "port {} still open after down",
        s.pg_port
    );
}

/// A supervisor and its compute_ctl killed together (SIGKILL, the OOM killer) leave the
/// compute's postgres running: it is compute_ctl's child, not the supervisor's. `doctor` names
/// it, `down` stops it, and `up` stops one itself before compute_ctl removes its pgdata.
#[test]
fn a_compute_postgres_left_by_a_killed_supervisor_is_found_and_stopped() {
    use workspace_stack::stack::process::{alive, signal};
    let _turn = one_at_a_time();
    let s = NeonStack::new("wsctl-neon-orphan-");
    let orphan = |s: &NeonStack| {
        let o = s.up(&[]);
        assert!(o.status.success(), "{}", text(&o));
        let pm = main_postmaster(s).expect("main's postmaster runs");
        let sup = status_json(s)["supervisor_pid"].as_u64().unwrap() as u32;
        let ctl = service_pid(s, "compute").unwrap();
        // The other services end on their death signal (SIGTERM, a graceful shutdown).
        let services: Vec<u32> = status_json(s)["services"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|x| x["pid"].as_u64().map(|p| p as u32))
            .collect();
        assert!(signal(ctl, libc::SIGKILL) && signal(sup, libc::SIGKILL));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while alive(sup) || services.iter().any(|&p| alive(p)) {
            assert!(
                std::time::Instant::now() < deadline,
                "supervisor {sup} or one of its services {services:?} lives on"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            alive(pm),
            "the compute's postgres {pm} outlives its compute_ctl"
        );
        pm
    };
    let pm = orphan(&s);
    let o = s.wsctl(&["doctor", "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    let found = v["findings"].as_array().unwrap().iter().any(|f| {
        f["check"] == "postmaster"
            && f["message"]
                .as_str()
                .unwrap_or("")
                .contains(&format!("pid {pm}"))
    });
    assert!(
        found && !o.status.success(),
        "doctor does not name postmaster {pm}: {v:#}"
    );
    let o = s.wsctl(&["down"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !alive(pm),
        "down leaves the compute's postgres {pm} running"
    );

    let pm = orphan(&s);
    let o = s.up(&[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !alive(pm),
        "up leaves the old compute postgres {pm} running"
    );
    assert_ne!(main_postmaster(&s), Some(pm));
    let o = s.wsctl(&["test"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(s.wsctl(&["down"]).status.success());
}

/// Runs `branch create NAME --at AT` and returns (success, output).
fn branch_at(s: &NeonStack, name: &str, at: &str) -> (bool, String) {
    let o = s.wsctl(&["branch", "create", name, "--at", at]);
    (o.status.success(), text(&o))
}

/// Timestamps reach the pageserver as `humantime::parse_rfc3339` takes them, and each `kind`
/// of its answer is read as Neon means it (pageserver/src/pgdatadir_mapping.rs:65-95).
#[test]
fn point_in_time_branches_send_utc_and_read_the_lsn_kinds_as_neon_means_them() {
    let _turn = one_at_a_time();
    let s = NeonStack::new("wsctl-neon-pitr-");
    let o = s.up(&[]);
    assert!(o.status.success(), "{}", text(&o));
    std::thread::sleep(Duration::from_millis(1100));

    // An offset is what people type; Neon's parser refuses it, so wsctl converts to UTC.
    let two_hours = chrono::FixedOffset::east_opt(2 * 3600).unwrap();
    let now = chrono::Utc::now().with_timezone(&two_hours).to_rfc3339();
    let (ok, out) = branch_at(&s, "offset", &now);
    assert!(ok && out.contains("at 0/169AD58"), "{now}: {out}");

    // `future`: every commit is older than the time, so the branch takes all of them.
    let (ok, out) = branch_at(&s, "later", "2099-01-01T00:00:00Z");
    assert!(ok && out.contains("at 0/169AD58"), "{out}");

    // `past`: the time is before the timeline's history: refused, with what to do instead.
    let (ok, out) = branch_at(&s, "before", "2001-01-01T00:00:00Z");
    assert!(
        !ok && out.contains("before the oldest history") && out.contains("--at 0/14EE150"),
        "{out}"
    );
    // `nodata`: no commit timestamps at all: refused too.
    std::fs::write(s.state.join("neon/pageserver/standin-lsn-kind"), "nodata").unwrap();
    let (ok, out) = branch_at(&s, "nodata", "2026-12-01T12:00:00Z");
    assert!(!ok && out.contains("no commit with a timestamp"), "{out}");
    std::fs::remove_file(s.state.join("neon/pageserver/standin-lsn-kind")).unwrap();

    // The stand-in's parser answers as Neon's does, byte for byte (fixtures/timestamps.json).
    let st: Value =
        serde_json::from_slice(&std::fs::read(s.state.join("state.json")).unwrap()).unwrap();
    let n = &st["neon"];
    let url = format!(
        "http://127.0.0.1:{}/v1/tenant/{}/timeline/{}/get_lsn_by_timestamp",
        n["pageserver_http_port"],
        n["tenant_id"].as_str().unwrap(),
        n["timeline_id"].as_str().unwrap()
    );
    let table: Vec<Value> = serde_json::from_str(include_str!("fixtures/timestamps.json")).unwrap();
    let http = reqwest::blocking::Client::new();
    let bearer = token(&s.state, Scope::PageServerApi);
    for case in &table {
        let input = case["input"].as_str().unwrap();
        let encoded: String = form_urlencoded::byte_serialize(input.as_bytes()).collect();
        let mut sends = vec![(
            format!("{url}?timestamp={encoded}"),
            &case["http_percent_encoded"],
        )];
        if let Some(q) = case["http_plus_unencoded"]["query"].as_str() {
            sends.push((format!("{url}?{q}"), &case["http_plus_unencoded"]));
        }
        for (u, want) in sends {
            let r = http.get(&u).bearer_auth(&bearer).send().unwrap();
            assert_eq!(
                r.status().as_u16() as u64,
                want["status"].as_u64().unwrap(),
                "{u}"
            );
            let body = r.text().unwrap();
            if want["status"] == 400 {
                assert_eq!(body, want["body"].as_str().unwrap(), "{u}");
            }
        }
        // What wsctl sends for any input chrono takes is something Neon's parser takes.
        if let Ok(sent) = workspace_stack::stack::neon::pageserver_timestamp(input) {
            let parsed =
                humantime::parse_rfc3339(&sent).unwrap_or_else(|e| panic!("{input} → {sent}: {e}"));
            let want = chrono::DateTime::parse_from_rfc3339(input).unwrap();
            let got: chrono::DateTime<chrono::Utc> = parsed.into();
            // A leap second (…:60) is the second before it for humantime.
            let nanos = want.timestamp_subsec_nanos() % 1_000_000_000;
            assert_eq!(
                (got.timestamp(), got.timestamp_subsec_nanos()),
                (want.timestamp(), nanos),
                "{input} → {sent}"
            );
        }
    }
}

/// A 412 on DELETE timeline says "tenant missing" as well as "has children"; a tenant whose
/// slot is being changed answers 503 and then `Attaching`: wsctl waits, it never attaches
/// again with a new generation.
#[test]
fn tenant_answers_503_and_attaching_mean_wait_and_412_is_read_from_the_body() {
    let _turn = one_at_a_time();
    let mut s = NeonStack::new("wsctl-neon-attach-");
    s.env.push(("NEON_STANDIN_ATTACH_MS".into(), "3000".into()));
    let o = s.up(&[]);
    assert!(o.status.success(), "{}", text(&o));
    let o = s.wsctl(&["branch", "create", "feat"]);
    assert!(o.status.success(), "{}", text(&o));
    let st: Value =
        serde_json::from_slice(&std::fs::read(s.state.join("state.json")).unwrap()).unwrap();
    let n = &st["neon"];
    let port = n["pageserver_http_port"].as_u64().unwrap() as u16;
    let tenant = n["tenant_id"].as_str().unwrap().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bearer = token(&s.state, Scope::PageServerApi);
    let ps = workspace_stack::stack::neon::Pageserver::new(port).with_token(bearer.clone());
    let base = format!("http://127.0.0.1:{port}/v1/tenant/{tenant}");

    // Someone else (an operator, a storage controller) re-attaches the tenant.
    let put = attach_in_background(&base, &bearer, 900);
    std::thread::sleep(Duration::from_millis(300));
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let state = rt.block_on(ps.tenant_state(&tenant)).unwrap();
        assert!(
            state.is_some(),
            "a tenant being attached is not an absent tenant: {seen:?}"
        );
        if seen.last() != state.as_ref() {
            seen.push(state.clone().unwrap_or_default());
        }
        if state.as_deref() == Some("Active") || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(seen, ["NotYetActive", "Attaching", "Active"], "{seen:?}");
    assert!(put.join().unwrap().status().is_success());
    // ensure_attached on a busy tenant waits and asks for no generation.
    let put = attach_in_background(&base, &bearer, 901);
    std::thread::sleep(Duration::from_millis(300));
    rt.block_on(ps.ensure_attached(
        &tenant,
        || async { panic!("no new generation for a tenant that is attaching") },
        Duration::from_secs(20),
    ))
    .unwrap();
    put.join().unwrap();

    let o = s.wsctl(&["snapshot", "create", "keep"]);
    assert!(o.status.success(), "{}", text(&o));
    // Tenant missing: the pageserver lost the tenant; not mistaken for children.
    let r = reqwest::blocking::Client::new()
        .put(format!("{base}/location_config"))
        .bearer_auth(&bearer)
        .json(&serde_json::json!({"mode": "Detached", "tenant_conf": {}}))
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let o = s.wsctl(&["snapshot", "delete", "keep", "--yes"]);
    let out = text(&o);
    assert!(
        !o.status.success()
            && out.contains("does not have tenant")
            && !out.contains("child timelines")
            && !out.contains("base of another timeline"),
        "{out}"
    );
}

/// compute_ctl runs pg_ctl, initdb, pg_isready and pg_config beside `--pgbin`, and the
/// pageserver initdb with lib/: a Neon directory without one is refused, by name, before
/// anything starts.
#[test]
fn a_neon_dir_missing_postgres_tools_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let neon = neon_dir(tmp.path());
    std::fs::remove_file(neon.join("pg_install/v17/bin/pg_ctl")).unwrap();
    std::fs::remove_file(neon.join("pg_install/v17/lib")).unwrap();
    let o = Command::new(wsctl_bin())
        .args(["--state-dir", tmp.path().join("s").to_str().unwrap()])
        .args([
            "up",
            "--backend",
            "neon",
            "--neon-dir",
            neon.to_str().unwrap(),
        ])
        .env("WSCTL_NEON_PORTS", "auto")
        .output()
        .unwrap();
    let err = text(&o);
    assert!(
        !o.status.success() && err.contains("v17/bin/pg_ctl, v17/lib"),
        "{err}"
    );
    assert!(
        !tmp.path().join("s/state.json").exists(),
        "nothing was set up: {err}"
    );
}

/// S3 remote storage and WAL offload reach the pageserver's config and the safekeepers'
/// command lines; credentials are not written anywhere.
#[test]
fn remote_storage_flags_reach_pageserver_and_safekeepers_and_upcalls_need_the_token() {
    let _turn = one_at_a_time();
    let mut s = NeonStack::new("wsctl-neon-s3-");
    s.env
        .push(("AWS_SECRET_ACCESS_KEY".into(), "not-a-real-secret".into()));
    let o = s.up(&[
        "--remote-storage-bucket",
        "ws-neon",
        "--remote-storage-region",
        "us-east-1",
        "--remote-storage-endpoint",
        "http://127.0.0.1:9",
        "--wal-offload",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let ps = std::fs::read_to_string(s.state.join("neon/pageserver/pageserver.toml")).unwrap();
    let t: toml::Value = toml::from_str(&ps).unwrap();
    assert_eq!(t["remote_storage"]["bucket_name"].as_str(), Some("ws-neon"));
    let sk = invocations(&s.log)
        .into_iter()
        .find(|c| c["program"] == "safekeeper")
        .unwrap();
    let args: Vec<&str> = sk["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let i = args.iter().position(|a| *a == "--remote-storage").unwrap();
    assert!(
        args[i + 1].contains("prefix_in_bucket = \"safekeeper\""),
        "{args:?}"
    );
    let state = std::fs::read_to_string(s.state.join("state.json")).unwrap();
    assert!(!state.contains("not-a-real-secret") && !ps.contains("not-a-real-secret"));
    // The upcall endpoint answers only the pageserver, which has the per-stack token.
    let mode = std::fs::metadata(s.state.join("neon/pageserver/pageserver.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = t["control_plane_api_token"].as_str().unwrap();
    let st: Value = serde_json::from_str(&state).unwrap();
    let url = format!(
        "http://127.0.0.1:{}/upcall/v1/re-attach",
        st["neon"]["upcall_port"]
    );
    let http = reqwest::blocking::Client::new();
    let body = serde_json::json!({"node_id": 1});
    let r = http.post(&url).json(&body).send().unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = http
        .post(&url)
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = http
        .post(&url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let o = s.wsctl(&["down"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = s.up(&[
        "--remote-storage-bucket",
        "x",
        "--remote-storage-region",
        "y",
    ]);
    assert!(
        !o.status.success() && text(&o).contains("fixed when a stack is created"),
        "{}",
        text(&o)
    );
}

/// Someone else's attach of the tenant at `base` with `generation`, sent from another thread so
/// the test can watch the tenant's state meanwhile.
fn attach_in_background(
    base: &str,
    bearer: &str,
    generation: u32,
) -> std::thread::JoinHandle<reqwest::blocking::Response> {
    let url = format!("{base}/location_config");
    let bearer = bearer.to_string();
    std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .put(url)
            .bearer_auth(bearer)
            .json(&serde_json::json!({"mode": "AttachedSingle", "generation": generation, "tenant_conf": {}}))
            .send()
            .unwrap()
    })
}
