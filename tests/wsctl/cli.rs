//! wsctl's contract as a CLI (issue 15): version, completions and man page; the migration
//! workflow and its exit codes; tables, `--json` and `env`; a health suite that checks the
//! API's `/ready` and leaves no trace.

use std::process::{Command, Output};

use serde_json::Value;

use super::{http, text, wsctl_bin, Stack};

fn sql(s: &Stack, query: &str) -> String {
    let o = s.wsctl(&["psql", "-At", "-c", query]);
    assert!(o.status.success(), "{query}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn json_of(o: &Output) -> Value {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn version_completions_and_man_need_no_stack() {
    let run = |args: &[&str]| Command::new(wsctl_bin()).args(args).output().unwrap();
    let o = run(&["--version"]);
    let version = stdout(&o).trim().to_string();
    let commit = version
        .strip_prefix("wsctl 0.1.0 (")
        .and_then(|v| v.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{version}"));
    assert!(
        commit == "unknown" || (commit.len() >= 7 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{version}"
    );
    // Built in a git checkout (as here and in CI): the commit is the checkout's.
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    if head.status.success() {
        assert!(
            stdout(&head).starts_with(commit),
            "{version} vs {}",
            stdout(&head)
        );
    }

    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef wsctl"),
        ("fish", "complete -c wsctl"),
    ] {
        let o = run(&["completions", shell]);
        let out = stdout(&o);
        assert!(
            o.status.success() && out.contains(marker),
            "{shell}: {}",
            text(&o)
        );
        for sub in ["migrate", "snapshot", "rollback", "env", "completions"] {
            assert!(out.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let o = run(&["man"]);
    let out = stdout(&o);
    assert!(o.status.success() && out.contains(".TH wsctl"), "{out}");
    assert!(out.contains("rollback") && out.contains("0.1.0"), "{out}");
    // Every visible command and flag says what it does.
    let o = run(&["migrate", "--help"]);
    assert!(
        stdout(&o).contains("Create the next migration file"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_migration_workflow_gates_on_pending_and_skips_needless_snapshots() {
    let s = super::stack();
    assert!(s.up().status.success());
    let latest = workspace_stack::db::migrations::latest_version();

    // Nothing pending: a sentence, exit 0, and no snapshot taken.
    let o = s.wsctl(&["migrate"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains(&format!(
            "Nothing to migrate: the schema is at migration {latest}"
        )),
        "{}",
        text(&o)
    );
    assert_eq!(
        json_of(&s.wsctl(&["snapshot", "list", "--json"])),
        Value::Array(vec![])
    );
    let o = s.wsctl(&["migrate", "status"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(stdout(&o).starts_with("VERSION"), "{}", text(&o));
    assert!(stdout(&o).contains("the schema is current"), "{}", text(&o));

    // The newest migration not applied yet (its SQL is idempotent): pending, exit 1.
    sql(
        &s,
        &format!("DELETE FROM workspace_stack.schema_migrations WHERE version = {latest}"),
    );
    let o = s.wsctl(&["migrate", "status"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stdout(&o).contains("1 migration pending — `wsctl migrate` applies it."),
        "{}",
        text(&o)
    );
    let o = s.wsctl(&["migrate", "status", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let st: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["schema"], "behind");
    assert_eq!(st["pending"], serde_json::json!([latest]));

    let o = s.wsctl(&["migrate", "--check"]);
    assert!(o.status.success(), "{}", text(&o));
    let first = stdout(&o).lines().next().unwrap_or_default().to_string();
    assert!(
        first.starts_with("On a throwaway copy of main, 1 migration (")
            && first.ends_with("applied cleanly and the schema is current; main was not touched."),
        "{first}"
    );
    assert!(!stdout(&o).contains("applied ["), "{}", text(&o));

    let o = s.wsctl(&["migrate"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(stdout(&o).contains("Applied 1 migration ("), "{}", text(&o));
    assert_eq!(
        json_of(&s.wsctl(&["snapshot", "list", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(s.wsctl(&["migrate", "status"]).status.code(), Some(0));

    // Migrated by a newer build: the API's /ready refuses it, the suite says so and how to fix
    // it, and migrate refuses before taking a snapshot.
    sql(
        &s,
        "INSERT INTO workspace_stack.schema_migrations (version, name, checksum, execution_ms)
         VALUES (999, 'from_a_newer_build', 'x', 0)",
    );
    let o = s.wsctl(&["test", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let ready = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().starts_with("API /ready"))
        .unwrap_or_else(|| panic!("no /ready check: {report}"))
        .clone();
    assert_eq!(ready["status"], "fail", "{ready}");
    let detail = ready["detail"].as_str().unwrap();
    assert!(
        detail.contains("newer than this API") && detail.contains("wsctl down && wsctl up"),
        "{detail}"
    );
    let o = s.wsctl(&["migrate"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("upgrade this binary"), "{}", text(&o));
    assert_eq!(
        json_of(&s.wsctl(&["snapshot", "list", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    sql(
        &s,
        "DELETE FROM workspace_stack.schema_migrations WHERE version = 999",
    );
}

#[test]
fn migrate_new_writes_the_next_file_where_the_build_picks_it_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("src/db/migrations");
    std::fs::create_dir_all(&dir).unwrap();
    for m in workspace_stack::db::migrations::MIGRATIONS {
        std::fs::write(dir.join(format!("{:04}_{}.sql", m.version, m.name)), m.sql).unwrap();
    }
    let next = workspace_stack::db::migrations::MIGRATIONS.len() + 1;
    let o = Command::new(wsctl_bin())
        .args(["migrate", "new", "add-due-dates"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let file = format!("{next:04}_add_due_dates.sql");
    assert!(dir.join(&file).is_file(), "{}", text(&o));
    assert!(
        stdout(&o).contains(&file) && stdout(&o).contains("cargo build"),
        "{}",
        text(&o)
    );
    // Outside a checkout: says where to run it.
    let o = Command::new(wsctl_bin())
        .args(["migrate", "new", "x"])
        .current_dir(tmp.path().join("src"))
        .output()
        .unwrap();
    assert!(
        !o.status.success() && text(&o).contains("pass --dir"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_health_suite_leaves_no_trace_so_the_first_item_is_id_1() {
    let s = super::stack();
    assert!(s.up().status.success());
    for _ in 0..3 {
        let o = s.wsctl(&["test"]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(stdout(&o).starts_with("OK?   CHECK"), "{}", text(&o));
    }
    let created: Value = http()
        .post(format!("{}/api/items", s.api()))
        .json(&serde_json::json!({"title": "mine", "description": "d", "category": "dashboard", "priority": "high"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(created["data"]["id"], "1", "{created}");
    let o = s.wsctl(&["test"]);
    assert!(o.status.success(), "{}", text(&o));
    let created: Value = http()
        .post(format!("{}/api/items", s.api()))
        .json(&serde_json::json!({"title": "mine too", "description": "d", "category": "dashboard", "priority": "high"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(created["data"]["id"], "2", "{created}");
    let log = std::fs::read_to_string(s.dir.join("logs/workspace-api.log")).unwrap();
    let posts = log
        .lines()
        .filter(|l| l.contains("POST /api/items"))
        .count();
    assert_eq!(posts, 2, "only the user's two requests are logged: {log}");
    assert!(
        !log.contains("wsctl-health-") && !log.contains("/api/items/"),
        "the suite's requests are not in the log: {log}"
    );
}

/// The preview's long service name does not push `status`'s other columns out of line.
fn status_columns_stay_aligned(s: &Stack, long: &str) {
    let o = s.wsctl(&["status"]);
    let out = stdout(&o);
    let header = out
        .lines()
        .find(|l| l.starts_with("SERVICE"))
        .unwrap_or_else(|| panic!("{out}"));
    let pid_at = header.find("PID").unwrap();
    let rows: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("SERVICE"))
        .skip(1)
        .take_while(|l| l.contains("running"))
        .collect();
    assert!(rows.iter().any(|r| r.contains(long)), "{out}");
    for r in &rows {
        assert!(
            r[pid_at..].chars().next().unwrap().is_ascii_digit(),
            "{out}"
        );
        assert_eq!(r.as_bytes()[pid_at - 1], b' ', "{out}");
    }
}

/// `rollback --json`: what was restored, the snapshot of the state it left (with the undo
/// command), the health suite and the per-table report.
fn check_rollback_json(r: &Value) {
    assert_eq!(r["restored"]["name"], "s1");
    assert!(
        r["before"]["name"].as_str().unwrap().starts_with("auto-"),
        "{r}"
    );
    assert_eq!(r["health"]["passed"], true, "{r}");
    assert_eq!(
        r["undo"],
        format!(
            "wsctl rollback --to {}",
            r["before"]["name"].as_str().unwrap()
        )
        .as_str(),
        "{r}"
    );
    assert!(
        r["tables"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["table"] == "workspace_items"),
        "{r}"
    );
}

#[test]
fn tables_json_and_errors_speak_the_users_names() {
    let s = super::stack();
    assert!(s.up().status.success());
    let o = s.wsctl(&["snapshot", "list"]);
    assert!(
        o.status.success() && stdout(&o).starts_with("No snapshots yet"),
        "{}",
        text(&o)
    );

    let long = "a-preview-branch-with-a-rather-long-name";
    let created = json_of(&s.wsctl(&["branch", "create", long, "--api", "--json"]));
    assert_eq!(created["name"], long);
    assert_eq!(created["from"], "main");
    assert!(created["took_ms"].as_f64().is_some(), "{created}");
    assert!(
        created["preview_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "{created}"
    );
    status_columns_stay_aligned(&s, long);
    let o = s.wsctl(&["branch", "list"]);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("CREATED"),
        "{out}"
    );
    let column = |l: &str, word: &str| l.find(word).unwrap_or_else(|| panic!("{word} in {l}"));
    assert_eq!(column(lines[1], "-"), column(lines[0], "FROM"), "{out}");
    assert_eq!(
        column(lines[2], " main") + 1,
        column(lines[0], "FROM"),
        "{out}"
    );
    // main's real creation time: this stack was made just now, not in 1970.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(
        lines[1].starts_with("main") && lines[1].contains(&today),
        "{out}"
    );

    let snap = json_of(&s.wsctl(&["snapshot", "create", "s1", "--json"]));
    assert_eq!(snap["snapshot"]["name"], "s1");
    assert_eq!(snap["snapshot"]["kind"], "snapshot");
    let o = s.wsctl(&["snapshot", "create", "s1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("snapshot s1 already exists"),
        "{}",
        text(&o)
    );
    let o = s.wsctl(&["snapshot", "list"]);
    assert!(
        stdout(&o).starts_with("NAME") && stdout(&o).contains("s1"),
        "{}",
        text(&o)
    );
    let o = s.wsctl(&["branch", "list"]);
    assert!(
        !stdout(&o).contains("s1"),
        "branch list shows branches only: {}",
        text(&o)
    );

    check_rollback_json(&json_of(&s.wsctl(&["rollback", "--to", "s1", "--json"])));
    // main is as old as the stack, however often its database was replaced.
    let main_row = |o: &Output| stdout(o).lines().nth(1).unwrap_or_default().to_string();
    assert_eq!(
        main_row(&s.wsctl(&["branch", "list"])),
        lines[1],
        "after a rollback"
    );

    for args in [
        &["snapshot", "create", "s1"][..],
        &["snapshot", "delete", "nope", "--yes"],
        &["branch", "create", long],
        &["rollback", "--to", "nope"],
        &["branch", "delete", "nope", "--yes"],
    ] {
        let o = s.wsctl(args);
        assert!(!o.status.success(), "{args:?}");
        assert!(
            !text(&o).contains("ws_"),
            "{args:?} shows an internal name: {}",
            text(&o)
        );
    }
}

#[test]
fn env_prints_what_a_program_needs_and_keeps_the_password_out() {
    let s = super::stack();
    assert!(s.up().status.success());
    let password = std::fs::read_to_string(s.dir.join("secrets/pg-password")).unwrap();
    let o = s.wsctl(&["env"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = stdout(&o);
    assert!(!out.contains(password.trim()), "{out}");
    let vars: std::collections::HashMap<String, String> = out
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.trim_matches('\'').to_string())
        })
        .collect();
    assert_eq!(vars["WORKSPACE_API_URL"], s.api());
    assert!(
        vars["DATABASE_URL"].starts_with("postgres://postgres@"),
        "{out}"
    );
    let passfile = std::path::Path::new(&vars["PGPASSFILE"]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(passfile).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // psql (libpq) connects with exactly these variables.
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(s.dir.join("state.json")).unwrap()).unwrap();
    let psql = state["pg_bin"]
        .as_str()
        .map(|b| std::path::Path::new(b).join("psql"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| "psql".into());
    let o = Command::new(psql)
        .args([
            vars["DATABASE_URL"].as_str(),
            "-At",
            "-c",
            "SELECT count(*) FROM workspace.workspace_categories",
        ])
        .env("PGPASSFILE", passfile)
        .env_remove("PGPASSWORD")
        .output()
        .unwrap();
    assert_eq!(stdout(&o).trim(), "6", "{}", text(&o));
    let o = s.wsctl(&["env", "--with-password", "--export"]);
    let out = stdout(&o);
    assert!(
        out.contains(password.trim()) && out.starts_with("export DATABASE_URL="),
        "{out}"
    );
}

/// An API that runs an older build than the wsctl migrating: the real API binary, started
/// through a wrapper (`WSCTL_API_BIN`) that points it at a database migrated past what it
/// knows (999) while a marker file says so — `once`: for one start; `always`: every start.
struct OldApi {
    bin: tempfile::TempDir,
    marks: tempfile::TempDir,
}

impl OldApi {
    fn new() -> OldApi {
        use std::os::unix::fs::PermissionsExt;
        let (bin, marks) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        // Run by the database account when the tests run as root.
        std::fs::set_permissions(bin.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(marks.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let api = bin.path().join("workspace-api");
        std::fs::copy(
            std::path::Path::new(wsctl_bin()).with_file_name("workspace-api"),
            &api,
        )
        .unwrap();
        let m = marks.path().display();
        let script = format!(
            "#!/bin/sh\n\
             if [ -e {m}/once ] || [ -e {m}/always ]; then\n\
               rm -f {m}/once\n\
               DATABASE_URL=\"${{DATABASE_URL%/*}}/ahead\"; export DATABASE_URL\n\
             fi\n\
             exec {} \"$@\"\n",
            api.display()
        );
        let wrapper = bin.path().join("old-api");
        std::fs::write(&wrapper, script).unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        OldApi { bin, marks }
    }

    fn wrapper(&self) -> std::path::PathBuf {
        self.bin.path().join("old-api")
    }

    /// The next API start (or every one) runs "old"; the running one is killed to get there.
    fn make_old(&self, s: &Stack, mark: &str) {
        std::fs::write(self.marks.path().join(mark), "").unwrap();
        let pid = s.pid_of("workspace-api");
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        super::wait_until(
            "the API refusing the schema",
            std::time::Duration::from_secs(30),
            || {
                http()
                    .get(format!("{}/ready", s.api()))
                    .send()
                    .is_ok_and(|r| r.status() == 503)
            },
        );
    }
}

/// A database `ahead`, migrated to the latest version and then to a 999th from "a newer build".
fn create_ahead_database(s: &Stack) {
    use workspace_stack::stack::connection::pg_config;
    use workspace_stack::stack::state::StateDir;
    let dir = StateDir {
        root: s.dir.clone(),
    };
    let state = dir.load().unwrap().unwrap();
    super::branch::rt().block_on(async {
        let admin = workspace_stack::db::connect(&pg_config(&dir, &state, "postgres").unwrap())
            .await
            .unwrap();
        admin.batch_execute("CREATE DATABASE ahead").await.unwrap();
        let mut ahead =
            workspace_stack::db::connect(&pg_config(&dir, &state, "ahead").unwrap()).await.unwrap();
        workspace_stack::db::migrations::migrate(&mut ahead).await.unwrap();
        ahead
            .batch_execute(
                "INSERT INTO workspace_stack.schema_migrations (version, name, checksum, execution_ms)
                 VALUES (999, 'from_a_newer_build', 'x', 0)",
            )
            .await
            .unwrap();
    });
}

#[test]
fn migrate_restarts_an_api_that_runs_an_older_build_or_says_what_to_install() {
    let s = super::stack();
    let old = OldApi::new();
    let (pg, api) = (s.pg_port.to_string(), s.api_port.to_string());
    let o = Command::new(wsctl_bin())
        .arg("--state-dir")
        .arg(&s.dir)
        .args(["up", "--pg-port", &pg, "--api-port", &api])
        .env("WSCTL_API_BIN", old.wrapper())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    create_ahead_database(&s);
    let latest = workspace_stack::db::migrations::latest_version();
    let unapply = format!("DELETE FROM workspace_stack.schema_migrations WHERE version = {latest}");

    // Started before the rebuild: a restart picks up the binary that knows the schema.
    sql(&s, &unapply);
    old.make_old(&s, "once");
    let o = s.wsctl(&["migrate"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains("Restarted the Workspace API"),
        "{}",
        text(&o)
    );
    assert!(stdout(&o).contains("Health suite passed"), "{}", text(&o));
    assert_eq!(s.wsctl(&["migrate", "status"]).status.code(), Some(0));

    // The installed binary itself is older: main is restored and the fix is named.
    sql(&s, &unapply);
    old.make_old(&s, "always");
    let o = s.wsctl(&["migrate"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stdout(&o).contains("Its binary is older than this wsctl — install the workspace-api"),
        "{}",
        text(&o)
    );
    assert!(
        stdout(&o).contains("main was restored from snapshot"),
        "{}",
        text(&o)
    );
    assert_eq!(s.wsctl(&["migrate", "status"]).status.code(), Some(1));
    std::fs::remove_file(old.marks.path().join("always")).unwrap();
}

/// POSTs `n` items; how many were refused with 429.
fn post_many(s: &Stack, n: usize) -> usize {
    let client = http();
    (0..n)
        .filter(|i| {
            let r = client
                .post(format!("{}/api/items", s.api()))
                .json(&serde_json::json!({"title": format!("seed {i}"), "description": "d", "category": "dashboard", "priority": "low"}))
                .send()
                .unwrap();
            assert!(r.status() == 201 || r.status() == 429, "{}", r.status());
            r.status() == 429
        })
        .count()
}

#[test]
fn the_rate_limit_is_a_stack_setting_that_survives_down_and_up() {
    let s = super::stack();
    let o = s.up_with(&["--rate-limit-max", "0"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(post_many(&s, 130), 0, "no limit with --rate-limit-max 0");
    assert!(s.wsctl(&["down"]).status.success());
    // No flag: the previous run's setting, from state.json.
    assert!(s.up().status.success());
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(s.dir.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["rate_limit_max"], 0, "{state}");
    assert_eq!(post_many(&s, 130), 0, "still no limit after down and up");
    assert!(s.wsctl(&["down"]).status.success());
    // workspace-stack.toml beside the state directory wins over the previous run.
    std::fs::write(
        s.dir.parent().unwrap().join("workspace-stack.toml"),
        "rate_limit_max = 40\n",
    )
    .unwrap();
    assert!(s.up().status.success());
    let refused = post_many(&s, 60);
    assert!(
        refused >= 15,
        "{refused} of 60 refused with a limit of 40 a minute"
    );
}
