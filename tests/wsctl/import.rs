//! `wsctl import` for real: source databases of both old layouts, created here with awkward
//! data, imported into a running stack; interrupted and failing imports.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use workspace_stack::stack::connection::pg_config;
use workspace_stack::stack::state::StateDir;

use super::branch::{checksums, rt};
use super::{text, wait_until, Stack};

/// The serial layout of the old Neon scripts, without the foreign key and CHECKs that some
/// old databases never had — which is how bad rows got in.
const SERIAL_SCHEMA: &str = r#"
CREATE SCHEMA workspace;
CREATE TABLE workspace.workspace_categories (
    name VARCHAR(50) PRIMARY KEY, display_name VARCHAR(100) NOT NULL, description TEXT,
    is_active BOOLEAN NOT NULL DEFAULT true, sort_order INTEGER DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(), updated_at TIMESTAMPTZ);
CREATE TABLE workspace.workspace_items (
    id SERIAL PRIMARY KEY, title TEXT NOT NULL, description TEXT, category VARCHAR(50) NOT NULL,
    priority VARCHAR(20) NOT NULL, status VARCHAR(20) NOT NULL, tags TEXT[] DEFAULT '{}',
    metadata JSONB DEFAULT '{}', created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ, created_by VARCHAR(100), updated_by VARCHAR(100));
"#;

/// The TimescaleDB layout (without the extension: the hypertable changes storage, not columns).
const UUID_SCHEMA: &str = r#"
CREATE SCHEMA workspace;
CREATE TABLE workspace.workspace_categories (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(), name VARCHAR(50) UNIQUE NOT NULL,
    description TEXT, color VARCHAR(20), icon VARCHAR(50), display_order INTEGER DEFAULT 0,
    is_active BOOLEAN DEFAULT true, created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW());
CREATE TABLE workspace.workspace_items (
    id UUID NOT NULL DEFAULT gen_random_uuid(), title VARCHAR(255) NOT NULL, description TEXT,
    category VARCHAR(50) NOT NULL, priority VARCHAR(20) NOT NULL DEFAULT 'medium',
    status VARCHAR(20) NOT NULL DEFAULT 'new', tags TEXT[], metadata JSONB,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(), updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    created_by VARCHAR(100), updated_by VARCHAR(100), PRIMARY KEY (id, created_at));
CREATE TABLE workspace.workspace_audit_log (id UUID, item_id UUID, action TEXT, changed_at TIMESTAMPTZ);
CREATE TABLE workspace.schema_version (version INT);
"#;

/// A connection to `db` in the stack's cluster, as its superuser, in UTC. Its connection
/// task runs on `rt`, which must outlive it.
fn connect(rt: &tokio::runtime::Runtime, s: &Stack, db: &str) -> tokio_postgres::Client {
    let dir = StateDir {
        root: s.dir.clone(),
    };
    let state = dir.load().unwrap().unwrap();
    let config = pg_config(&dir, &state, db).unwrap();
    rt.block_on(async {
        let c = workspace_stack::db::connect(&config).await.unwrap();
        c.batch_execute("SET TimeZone = 'UTC'").await.unwrap();
        c
    })
}

fn admin_sql(s: &Stack, db: &str, sql: &str) {
    let rt = rt();
    let c = connect(&rt, s, db);
    rt.block_on(c.batch_execute(sql)).unwrap();
}

fn query(s: &Stack, db: &str, sql: &str) -> Vec<tokio_postgres::Row> {
    let rt = rt();
    let c = connect(&rt, s, db);
    rt.block_on(c.query(sql, &[])).unwrap()
}

/// A database beside the stack's, in the same cluster, with `schema` and `data`.
fn source(s: &Stack, name: &str, schema: &str, data: &str) -> String {
    admin_sql(s, "postgres", &format!("CREATE DATABASE {name}"));
    admin_sql(s, name, schema);
    admin_sql(s, name, data);
    let url = String::from_utf8(s.wsctl(&["url"]).stdout).unwrap();
    let (base, _) = url.trim().rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

/// Content digest of a source's items over the columns both sides have, by id, skipping
/// `except` — computed by PostgreSQL, independently of wsctl's own checksums.
fn items_digest(s: &Stack, db: &str, except: &[i32]) -> String {
    let list = if except.is_empty() {
        "0".to_string()
    } else {
        except
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let row = &query(
        s,
        db,
        &format!(
            "SELECT md5(string_agg(concat_ws('|', id, title, coalesce(description, '<null>'),
                    category, priority, status, coalesce(tags::text, '<null>'),
                    coalesce(metadata::text, '<null>'), created_at,
                    coalesce(updated_at::text, '<null>'), coalesce(created_by, '<null>')),
                    E'\n' ORDER BY id))
               FROM workspace.workspace_items WHERE id NOT IN ({list})"
        ),
    )[0];
    row.get(0)
}

fn report(o: &std::process::Output) -> Value {
    let out = text(o);
    let path = out
        .lines()
        .find_map(|l| l.strip_prefix("Report: "))
        .unwrap_or_else(|| panic!("no report path in {out}"));
    serde_json::from_slice(&std::fs::read(path.trim()).unwrap()).unwrap()
}

fn import_dbs(s: &Stack) -> Vec<String> {
    query(
        s,
        "postgres",
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'ws_branch_import%'",
    )
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[test]
fn a_serial_source_with_awkward_data_is_imported_verified_and_cut_over() {
    let s = super::stack();
    assert!(s.up().status.success());
    let url = awkward_serial_source(&s);
    let source_before = items_digest(&s, "legacy", &[]);
    let main_before = checksums(&s);
    dry_run_verifies_and_changes_nothing(&s, &url, &main_before);
    cutover_imports_the_good_rows_and_rolls_back(&s, &url, &source_before, &main_before);
}

/// A serial-layout source with unicode, long text, nulls, escapes, three bad rows and 500
/// generated ones; returns its URL.
fn awkward_serial_source(s: &Stack) -> String {
    let long = "ç".repeat(100_000);
    source(
        s,
        "legacy",
        SERIAL_SCHEMA,
        &format!(
            r#"
INSERT INTO workspace.workspace_categories (name, display_name, sort_order) VALUES
  ('documentacao', 'Documentação', 1), ('dashboard', 'Dashboard', 0), ('análise', 'Análise ✓', 3);
INSERT INTO workspace.workspace_items (title, description, category, priority, status, tags, metadata, updated_at, created_by) VALUES
  ('Ação — 日本語 🚀', 'unicode', 'análise', 'high', 'review',
     ARRAY['a,b', 'quote"d', 'back\slash', E'tab\there', E'new\nline'], '{{"nested": {{"k": [1, 2, {{"x": null}}]}}, "emoji": "🚀"}}', NOW(), 'ana'),
  ('long', '{long}', 'documentacao', 'low', 'new', '{{}}', '{{}}', NULL, NULL),
  ('nulls', NULL, 'dashboard', 'medium', 'completed', NULL, NULL, NULL, NULL),
  (E'line1\nline2\\end\ttab', '', 'dashboard', 'critical', 'in-progress', ARRAY[]::text[], '[1, "two"]', NOW(), NULL),
  ('bad priority', 'x', 'dashboard', 'urgent', 'new', NULL, NULL, NULL, NULL),
  ('bad status', 'x', 'dashboard', 'low', 'done', NULL, NULL, NULL, NULL),
  ('orphan', 'x', 'ghost', 'low', 'new', NULL, NULL, NULL, NULL);
INSERT INTO workspace.workspace_items (title, description, category, priority, status, tags, metadata)
  SELECT 'generated ' || g, repeat('d', g), 'dashboard', 'low', 'new', ARRAY['t' || g], jsonb_build_object('g', g)
    FROM generate_series(1, 500) g;
"#
        ),
    )
}

/// Dry run: verified, nothing changes, the branch is gone again; and the backup checks out.
fn dry_run_verifies_and_changes_nothing(
    s: &Stack,
    url: &str,
    main_before: &[(String, i64, String)],
) {
    let o = s.wsctl(&["import", "--from", url, "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    let r = report(&o);
    assert_eq!(r["verified"], true, "{r}");
    assert_eq!(r["layout"]["variant"], "serial");
    let rejected: Vec<(String, String)> = r["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["source_key"].as_str().unwrap().to_string(),
                x["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    assert!(rejected[0].0 == "5" && rejected[0].1.contains("priority \"urgent\""));
    assert!(rejected[1].0 == "6" && rejected[1].1.contains("status \"done\""));
    assert!(rejected[2].0 == "7" && rejected[2].1.contains("orphaned"));
    let items = &r["tables"][1];
    assert_eq!(
        (
            items["source_rows"].as_u64(),
            items["imported_rows"].as_u64()
        ),
        (Some(507), Some(504))
    );
    assert_eq!(items["target_checksum"], items["imported_checksum"]);
    assert_eq!(checksums(s), main_before, "a dry run leaves main alone");
    assert!(import_dbs(s).is_empty(), "the dry run's branch was deleted");

    // The backup is a custom-format dump with a checksum file that checks out.
    let backup = r["backup"]["path"].as_str().unwrap();
    let dir = std::path::Path::new(backup).parent().unwrap();
    let o = Command::new("sha256sum")
        .arg("-c")
        .arg(format!("{backup}.sha256"))
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(backup).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the backup holds data: owner only");
}

/// Cutover: main holds exactly the source's good rows; the source never changed; the API
/// serves them; the cutover's snapshot brings main back.
fn cutover_imports_the_good_rows_and_rolls_back(
    s: &Stack,
    url: &str,
    source_before: &str,
    main_before: &[(String, i64, String)],
) {
    let o = s.wsctl(&["import", "--from", url, "--cutover"]);
    assert!(o.status.success(), "{}", text(&o));
    let r = report(&o);
    assert_eq!(
        items_digest(s, "workspace", &[]),
        items_digest(s, "legacy", &[5, 6, 7]),
        "every imported row equals its source row, column by column"
    );
    assert_eq!(items_digest(s, "legacy", &[]), source_before);
    let cats = query(
        s,
        "workspace",
        "SELECT name::text, display_name::text FROM workspace.workspace_categories ORDER BY 1",
    );
    assert_eq!(cats.len(), 3);
    // The API serves the imported data, and new items get ids after the imported ones.
    let r2 = super::http()
        .post(format!("{}/api/items", s.api()))
        .json(&serde_json::json!({"title": "new", "description": "d", "category": "dashboard", "priority": "low"}))
        .send()
        .unwrap();
    assert_eq!(r2.status().as_u16(), 201);
    let id: i64 = r2.json::<Value>().unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(id > 507, "the sequence was set after the copy (got {id})");

    // The cutover's snapshot brings main back to before the import.
    let snap = r["cutover_snapshot"].as_str().unwrap();
    let o = s.wsctl(&["rollback", "--to", snap]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(checksums(s), main_before);
}

#[test]
fn the_timescaledb_layout_gets_new_ids_and_keeps_the_old_ones() {
    let s = super::stack();
    assert!(s.up().status.success());
    let url = source(
        &s,
        "tsdb",
        UUID_SCHEMA,
        r#"
INSERT INTO workspace.workspace_categories (name, description, color, icon, display_order) VALUES
  ('bug', 'Bugs', '#FF0000', 'bug', 3), ('dados', 'bad colour', 'red', 'db', 4), ('produto', NULL, NULL, NULL, 1);
INSERT INTO workspace.workspace_items (id, title, category, priority, status, tags, metadata, created_at) VALUES
  ('00000000-0000-0000-0000-000000000001', 'first', 'bug', 'high', 'new', ARRAY['x'], '{"a": 1}', '2024-01-01T00:00:00Z'),
  ('00000000-0000-0000-0000-000000000001', 'same uuid, later chunk', 'produto', 'low', 'review', NULL, NULL, '2024-02-01T00:00:00Z'),
  ('00000000-0000-0000-0000-000000000003', 'in the bad category', 'dados', 'low', 'new', NULL, NULL, '2024-03-01T00:00:00Z');
INSERT INTO workspace.workspace_items (title, category, created_at)
  SELECT 'bulk ' || g, 'bug', '2025-01-01T00:00:00Z'::timestamptz + g * interval '1 minute'
    FROM generate_series(1, 200) g;
INSERT INTO workspace.workspace_audit_log VALUES (gen_random_uuid(), gen_random_uuid(), 'CREATE', NOW());
"#,
    );
    let o = s.wsctl(&["import", "--from", &url, "--no-backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let r = report(&o);
    assert_eq!(r["verified"], true, "{r}");
    assert_eq!(r["layout"]["variant"], "uuid");
    assert!(r["backup"].is_null());
    let others: Vec<&str> = r["layout"]["other_tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(others, ["schema_version", "workspace_audit_log"]);
    let reasons: Vec<&str> = r["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("color \"red\""));
    assert!(reasons[1].contains("orphaned"));

    // Imported into a branch, main untouched; ids follow created_at; the UUID stays.
    let branch_db = format!(
        "ws_branch_{}",
        r["branch"].as_str().unwrap().replace('-', "_")
    );
    let rows = query(
        &s,
        &branch_db,
        "SELECT id, title, metadata->>'source_id', metadata->>'a' FROM workspace.workspace_items ORDER BY id LIMIT 2",
    );
    let first: (i32, String, String, Option<String>) = (
        rows[0].get(0),
        rows[0].get(1),
        rows[0].get(2),
        rows[0].get(3),
    );
    assert_eq!(
        first,
        (
            1,
            "first".into(),
            "00000000-0000-0000-0000-000000000001".into(),
            Some("1".into())
        )
    );
    let second: (i32, String) = (rows[1].get(0), rows[1].get(2));
    assert_eq!(
        second,
        (2, "00000000-0000-0000-0000-000000000001".into()),
        "a UUID repeated across chunks becomes two items"
    );
    let cat = &query(
        &s,
        &branch_db,
        "SELECT display_name::text, sort_order, color, icon FROM workspace.workspace_categories WHERE name = 'bug'",
    )[0];
    let cat: (String, i32, String, String) = (cat.get(0), cat.get(1), cat.get(2), cat.get(3));
    assert_eq!(cat, ("bug".into(), 3, "#FF0000".into(), "bug".into()));
    let map = std::fs::read_to_string(r["id_map"].as_str().unwrap()).unwrap();
    assert_eq!(map.lines().count(), 202);
    assert!(map
        .lines()
        .any(|l| l == "00000000-0000-0000-0000-000000000001,1"));
    let n: i64 = query(
        &s,
        "workspace",
        "SELECT count(*) FROM workspace.workspace_items",
    )[0]
    .get(0);
    assert_eq!(n, 0, "without --cutover main is unchanged");
}

/// Starts an import of a big source and waits until it is copying rows.
fn import_in_flight(s: &Stack, url: &str) -> std::process::Child {
    let child = Command::new(super::wsctl_bin())
        .arg("--state-dir")
        .arg(&s.dir)
        .args([
            "import",
            "--from",
            url,
            "--no-backup",
            "--batch-rows",
            "2000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the import is copying", Duration::from_secs(60), || {
        !query(
            s,
            "postgres",
            "SELECT 1 FROM pg_stat_activity WHERE datname = 'big' AND query LIKE 'COPY%'",
        )
        .is_empty()
    });
    child
}

#[test]
fn interrupted_or_disconnected_imports_leave_main_alone_and_rerun_cleanly() {
    let s = super::stack();
    assert!(s.up().status.success());
    let url = source(
        &s,
        "big",
        SERIAL_SCHEMA,
        "INSERT INTO workspace.workspace_categories (name, display_name) VALUES ('dashboard', 'Dashboard');
         INSERT INTO workspace.workspace_items (title, description, category, priority, status, tags, metadata)
           SELECT 'item ' || g, repeat('x', 200), 'dashboard', 'low', 'new', ARRAY['a', 'b'], jsonb_build_object('g', g)
             FROM generate_series(1, 300000) g;",
    );
    let main_before = checksums(&s);

    // kill -9 in the middle of the copy.
    let mut child = import_in_flight(&s, &url);
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    assert_eq!(checksums(&s), main_before);
    assert!(s.dir.join("imports/in-progress").exists());

    // The source's connection is lost in the middle of the copy.
    let child = import_in_flight(&s, &url);
    admin_sql(
        &s,
        "postgres",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'big'",
    );
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert_eq!(checksums(&s), main_before);

    // A rerun removes what was left and completes.
    let o = s.wsctl(&["import", "--from", &url, "--no-backup", "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(report(&o)["tables"][1]["imported_rows"], 300000);
    assert!(import_dbs(&s).is_empty(), "{:?}", import_dbs(&s));
    assert!(!s.dir.join("imports/in-progress").exists());
    assert_eq!(checksums(&s), main_before);
}

#[test]
fn unreachable_wrong_and_malformed_sources_fail_before_anything_is_created() {
    let s = super::stack();
    assert!(s.up().status.success());
    let port = super::free_port();
    let o = s.wsctl(&[
        "import",
        "--from",
        &format!("postgres://old:s3cret-pw@127.0.0.1:{port}/workspace"),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains(&format!("127.0.0.1:{port}")) && !text(&o).contains("s3cret-pw"),
        "{}",
        text(&o)
    );
    let url = source(
        &s,
        "notours",
        "CREATE SCHEMA workspace; CREATE TABLE workspace.workspace_items (id int, name text);",
        "",
    );
    let o = s.wsctl(&["import", "--from", &url]);
    assert!(
        !o.status.success() && text(&o).contains("lacks title, category, priority, status"),
        "{}",
        text(&o)
    );
    let o = s.wsctl(&["import", "--from", "not a url"]);
    assert!(
        !o.status.success() && text(&o).contains("not a PostgreSQL URL"),
        "{}",
        text(&o)
    );
    assert!(import_dbs(&s).is_empty());
    assert!(!s.dir.join("imports/in-progress").exists());
    let o = s.wsctl(&["test"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// A source URL without its password (`postgres://postgres@…`), and the password.
fn without_password(url: &str) -> (String, String) {
    let (scheme_user, rest) = url.split_once('@').unwrap();
    let (user_part, password) = scheme_user.rsplit_once(':').unwrap();
    (format!("{user_part}@{rest}"), password.to_string())
}

#[test]
fn the_source_password_can_stay_out_of_argv() {
    let s = super::stack();
    assert!(s.up().status.success());
    let url = source(
        &s,
        "pwsource",
        SERIAL_SCHEMA,
        "INSERT INTO workspace.workspace_categories (name, display_name) VALUES ('dashboard', 'D');",
    );
    let (bare, password) = without_password(&url);
    let import = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(super::wsctl_bin());
        cmd.arg("--state-dir").arg(&s.dir).arg("import").args(args);
        cmd.env_remove("WSCTL_IMPORT_FROM").env_remove("PGPASSFILE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let warning = "holds a password, which every local user can read";

    // A password in --from works, with a warning saying where it shows.
    let o = import(&["--from", &url, "--dry-run", "--no-backup"], &[]);
    assert!(
        o.status.success() && text(&o).contains(warning),
        "{}",
        text(&o)
    );

    // The same URL from the environment: no warning.
    let o = import(
        &["--dry-run", "--no-backup"],
        &[("WSCTL_IMPORT_FROM", url.as_str())],
    );
    assert!(
        o.status.success() && !text(&o).contains(warning),
        "{}",
        text(&o)
    );

    // No password anywhere in the command: it comes from a passfile (0600, as libpq wants).
    let tmp = tempfile::tempdir().unwrap();
    let passfile = tmp.path().join("pgpass");
    std::fs::write(
        &passfile,
        format!(
            "# the stack\nlocalhost:{}:pwsource:postgres:{password}\n",
            s.pg_port
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &passfile,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let passfile = passfile.display().to_string();
    let o = import(
        &["--from", &bare, "--dry-run"],
        &[("PGPASSFILE", passfile.as_str())],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains(warning), "{}", text(&o));
}

#[test]
fn a_source_database_name_cannot_put_the_backup_outside_backups() {
    let s = super::stack();
    assert!(s.up().status.success());
    let name = "../../escape";
    admin_sql(&s, "postgres", &format!("CREATE DATABASE \"{name}\""));
    admin_sql(&s, name, SERIAL_SCHEMA);
    let url = String::from_utf8(s.wsctl(&["url"]).stdout).unwrap();
    let (base, _) = url.trim().rsplit_once('/').unwrap();
    let from = format!("{base}/..%2F..%2Fescape");
    let o = s.wsctl(&["import", "--from", &from, "--dry-run"]);
    // Wherever it went, nothing named after the source may appear outside backups/.
    let outside: Vec<_> = std::fs::read_dir(s.dir.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("escape"))
        .collect();
    assert!(outside.is_empty(), "the backup escaped: {outside:?}");
    assert!(o.status.success(), "{}", text(&o));
    let backup = report(&o)["backup"]["path"].as_str().unwrap().to_string();
    assert!(
        backup.starts_with(&s.dir.join("backups/").display().to_string()),
        "{backup}"
    );
}

#[test]
fn import_json_is_one_document_on_stdout_with_the_report() {
    let s = super::stack();
    assert!(s.up().status.success());
    let url = source(
        &s,
        "forjson",
        SERIAL_SCHEMA,
        "INSERT INTO workspace.workspace_categories (name, display_name) VALUES ('dashboard', 'Dashboard');
         INSERT INTO workspace.workspace_items (title, category, priority, status) VALUES
           ('one', 'dashboard', 'low', 'new'), ('bad', 'dashboard', 'urgent', 'new');",
    );
    let o = s.wsctl(&[
        "import",
        "--from",
        &url,
        "--dry-run",
        "--json",
        "--no-backup",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout is not one JSON document: {}", text(&o)));
    assert_eq!(out["exit_code"], 0, "{out}");
    assert_eq!(out["report"]["dry_run"], true, "{out}");
    assert_eq!(out["report"]["verified"], true, "{out}");
    assert_eq!(
        out["report"]["rejected"].as_array().unwrap().len(),
        1,
        "{out}"
    );
    let path = out["report_path"].as_str().unwrap();
    let file: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(file["outcome"], out["report"]["outcome"]);
    let password = std::fs::read_to_string(s.dir.join("secrets/pg-password")).unwrap();
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains(password.trim()),
        "the source's password is not in the output"
    );
    assert_eq!(out["undo"], Value::Null, "a dry run changes nothing: {out}");
    // A cutover says how to undo it, as the text output's last line does.
    let o = s.wsctl(&[
        "import",
        "--from",
        &url,
        "--cutover",
        "--json",
        "--no-backup",
    ]);
    let out: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout is not one JSON document: {}", text(&o)));
    let snap = out["report"]["cutover_snapshot"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(
        out["undo"],
        format!("wsctl rollback --to {snap}").as_str(),
        "{out}"
    );
}

/// Issue 15 item 8: tables outside schema `workspace` are found (or named with --schema),
/// rejected rows and the backup are printed, a failure's reason comes first, and the stack's
/// own database is refused before anything — a backup file included — is created.
#[test]
fn import_finds_the_schema_prints_rejects_and_refuses_its_own_database() {
    let s = super::stack();
    assert!(s.up().status.success());
    let legacy = SERIAL_SCHEMA.replace("workspace.", "legacy.").replace(
        "CREATE SCHEMA workspace;",
        "CREATE SCHEMA legacy; CREATE SCHEMA other;",
    );
    let url = source(
        &s,
        "inlegacy",
        &legacy,
        "INSERT INTO legacy.workspace_categories (name, display_name) VALUES ('dashboard', 'D');
         INSERT INTO legacy.workspace_items (title, category, priority, status) VALUES
           ('ok', 'dashboard', 'low', 'new'), ('bad', 'dashboard', 'urgent', 'new');",
    );
    let o = s.wsctl(&["import", "--from", &url, "--dry-run"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("Rejected: 1 source rows"), "{out}");
    assert!(
        out.contains("workspace_items 2: ") && out.contains("urgent"),
        "{out}"
    );
    let backup = out
        .lines()
        .find_map(|l| l.strip_prefix("Backup: "))
        .unwrap_or_else(|| panic!("no backup line in {out}"));
    let path = backup.split(" (").next().unwrap();
    assert!(std::path::Path::new(path).exists(), "{out}");
    assert_eq!(report(&o)["layout"]["schema"], "legacy");

    // A schema that lacks the tables: the reason leads, on its own line.
    let o = s.wsctl(&["import", "--from", &url, "--schema", "other", "--dry-run"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    let first = out
        .lines()
        .find(|l| l.starts_with("wsctl: "))
        .unwrap_or_default();
    assert!(
        first.contains("no table other.workspace_items") && !first.contains("import failed"),
        "{out}"
    );
    assert!(out.contains("\nimport failed; main is unchanged"), "{out}");

    // The stack's own database: refused up front, no backup left behind.
    let own = String::from_utf8(s.wsctl(&["url"]).stdout).unwrap();
    let backups = || std::fs::read_dir(s.dir.join("backups")).map_or(0, Iterator::count);
    let before = backups();
    let o = s.wsctl(&["import", "--from", own.trim()]);
    let out = text(&o);
    assert!(
        !o.status.success() && out.contains("this stack's own database"),
        "{out}"
    );
    assert_eq!(backups(), before, "{out}");
    assert!(import_dbs(&s).is_empty());
}

/// Issue 15 item 8e: a kept, verified import branch becomes main by `branch promote`, without
/// a second import, and the snapshot it takes undoes it; promoting it again is refused.
#[test]
fn a_verified_import_branch_is_promoted_to_main_and_undone() {
    let s = super::stack();
    assert!(s.up().status.success());
    let url = source(
        &s,
        "topromote",
        SERIAL_SCHEMA,
        "INSERT INTO workspace.workspace_categories (name, display_name) VALUES ('dashboard', 'D');
         INSERT INTO workspace.workspace_items (title, category, priority, status)
           SELECT 'p' || g, 'dashboard', 'low', 'new' FROM generate_series(1, 7) g;",
    );
    let main_before = checksums(&s);
    let o = s.wsctl(&["import", "--from", &url, "--no-backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let branch = report(&o)["branch"].as_str().unwrap().to_string();
    assert_eq!(
        checksums(&s),
        main_before,
        "a plain import leaves main alone"
    );

    let o = s.wsctl(&["branch", "promote", "no-such-import"]);
    assert!(
        !o.status.success() && text(&o).contains("is not a kept import"),
        "{}",
        text(&o)
    );
    let o = s.wsctl(&["branch", "promote", &branch]);
    let out = text(&o);
    assert!(
        o.status.success() && out.contains("Health suite: passed"),
        "{out}"
    );
    assert_eq!(
        items_digest(&s, "workspace", &[]),
        items_digest(&s, "topromote", &[]),
        "main now holds the import"
    );
    let o = s.wsctl(&["branch", "promote", &branch]);
    assert!(
        !o.status.success() && text(&o).contains("already made main"),
        "{}",
        text(&o)
    );
    let snap = out
        .split("rollback --to ")
        .nth(1)
        .and_then(|t| t.split('`').next())
        .unwrap_or_else(|| panic!("no snapshot in {out}"));
    let o = s.wsctl(&["rollback", "--to", snap]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(checksums(&s), main_before);
}
