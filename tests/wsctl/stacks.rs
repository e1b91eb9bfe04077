//! Stack names, `--stack`, and the target line commands that change something print first.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::common::{text, wsctl_bin};

fn first_stderr_line(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_stack_is_named_and_wrong_names_are_refused() {
    let s = crate::stack();
    let project = s.dir.parent().unwrap();
    std::fs::write(project.join("workspace-stack.toml"), "name = \"shop\"\n").unwrap();
    let o = s.up();
    assert!(o.status.success(), "{}", text(&o));
    let line = first_stderr_line(&o);
    assert!(
        line.starts_with("stack shop · ") && line.contains(&s.dir.display().to_string()),
        "{line}"
    );
    assert!(line.contains("postgres backend"), "{line}");
    let state: Value =
        serde_json::from_slice(&std::fs::read(s.dir.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["name"], "shop");

    // The wrong name: refused, and nothing is created.
    let o = s.wsctl(&["--stack", "billing", "branch", "create", "wrong"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("--stack billing") && text(&o).contains("holds stack shop"),
        "{}",
        text(&o)
    );
    let o = Command::new(wsctl_bin())
        .arg("--state-dir")
        .arg(&s.dir)
        .args(["branch", "delete", "main", "--force", "--yes"])
        .env("WSCTL_STACK", "billing")
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("holds stack shop"), "{}", text(&o));
    let list = s.wsctl(&["branch", "list", "--json"]);
    assert!(!String::from_utf8_lossy(&list.stdout).contains("wrong"));

    // The right name: it acts, and says on what first.
    let o = Command::new(wsctl_bin())
        .arg("--state-dir")
        .arg(&s.dir)
        .args(["branch", "create", "feature"])
        .env("WSCTL_STACK", "shop")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let line = first_stderr_line(&o);
    assert!(
        line.starts_with("stack shop · ") && line.ends_with("· branch feature"),
        "{line}"
    );
    // Reading commands print no target line.
    let o = s.wsctl(&["branch", "list"]);
    assert!(o.stderr.is_empty(), "{}", text(&o));

    // Without a name in the file, the project directory's name (and state files of earlier
    // versions, without `name`, still load).
    std::fs::remove_file(project.join("workspace-stack.toml")).unwrap();
    let mut state = state;
    state.as_object_mut().unwrap().remove("name");
    std::fs::write(s.dir.join("state.json"), state.to_string()).unwrap();
    let dirname = project.file_name().unwrap().to_str().unwrap();
    let o = s.wsctl(&["--stack", dirname, "status", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = s.wsctl(&["--stack", "shop", "status"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(s.wsctl(&["down"]).status.success());
}

/// A postmaster of the stack's data directory, started behind wsctl's back (as a supervisor
/// killed with -9 in the middle of a start can leave one); reaped by a thread.
fn stray_postmaster(s: &crate::common::Stack) -> (u32, std::thread::JoinHandle<()>) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let data = s.dir.join("postgres/data");
    let meta = std::fs::metadata(&data).unwrap();
    let state: Value =
        serde_json::from_slice(&std::fs::read(s.dir.join("state.json")).unwrap()).unwrap();
    let bin = std::path::PathBuf::from(state["pg_bin"].as_str().unwrap());
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut child = Command::new(bin.join("postgres"))
        .arg("-D")
        .arg(&data)
        .args(["-c", "listen_addresses=", "-c"])
        .arg(format!(
            "unix_socket_directories={}",
            s.dir.join("postgres/socket").display()
        ))
        .uid(meta.uid())
        .gid(meta.gid())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    crate::wait_until("the stray postmaster", Duration::from_secs(20), || {
        std::fs::read_to_string(data.join("postmaster.pid")).is_ok_and(|t| t.lines().count() > 7)
    });
    let pid = child.id();
    (pid, std::thread::spawn(move || drop(child.wait())))
}

#[test]
fn down_destroy_removes_a_broken_stack_and_up_clean_starts_from_nothing() {
    let s = crate::stack();
    assert!(s.up().status.success());
    assert!(s.wsctl(&["down"]).status.success());
    // Broken: a postmaster left running, a dead supervisor's pid file, a half-written state.
    let (pid, reaped) = stray_postmaster(&s);
    std::fs::write(s.dir.join("supervisor.pid"), "999999").unwrap();
    std::fs::write(s.dir.join("state.json"), "{\"version\": 1, \"back").unwrap();

    // Not on a terminal: it needs --yes, and nothing goes.
    let o = s.wsctl(&["down", "--destroy"]);
    assert!(
        !o.status.success() && text(&o).contains("--yes"),
        "{}",
        text(&o)
    );
    assert!(s.dir.join("postgres/data").exists());

    let o = s.wsctl(&["down", "--destroy", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&format!("pid {pid}")), "{}", text(&o));
    assert!(!s.dir.exists(), "{}", text(&o));
    reaped.join().unwrap();
    // Again: nothing there, nothing to do.
    assert!(s.wsctl(&["down", "--destroy", "--yes"]).status.success());

    // A directory that is not a wsctl state directory is refused, as by --purge.
    std::fs::create_dir_all(&s.dir).unwrap();
    std::fs::write(s.dir.join("notes.txt"), "mine").unwrap();
    let o = s.wsctl(&["down", "--destroy", "--yes"]);
    assert!(
        !o.status.success() && text(&o).contains("refusing"),
        "{}",
        text(&o)
    );
    assert!(s.dir.join("notes.txt").exists());
    std::fs::remove_dir_all(&s.dir).unwrap();

    // up --clean: destroy, then up; a branch made before is gone, the stack answers.
    assert!(s.up().status.success());
    assert!(s.wsctl(&["branch", "create", "old"]).status.success());
    let o = s.up_with(&["--clean"]);
    assert!(
        !o.status.success() && text(&o).contains("--yes"),
        "{}",
        text(&o)
    );
    let o = s.up_with(&["--clean", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let list = s.wsctl(&["branch", "list", "--json"]);
    assert!(list.status.success(), "{}", text(&list));
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains("\"old\""),
        "{}",
        text(&list)
    );
    let health = crate::common::http()
        .get(format!("{}/health", s.api()))
        .send()
        .unwrap();
    assert!(health.status().is_success());
    assert!(s.wsctl(&["down", "--destroy", "--yes"]).status.success());
    assert!(!s.dir.exists());
}

/// The API URL and PostgreSQL port `status --json` reports.
fn ports_of(s: &crate::common::Stack) -> (String, u64) {
    let st = s.status();
    (
        st["api_url"].as_str().unwrap().to_string(),
        st["pg_port"].as_u64().unwrap(),
    )
}

/// `branch create NAME --api` and the preview's URL.
fn preview(s: &crate::common::Stack, name: &str) -> String {
    let o = s.wsctl(&["branch", "create", name, "--api"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("Preview API for {name}: ")))
        .unwrap_or_else(|| panic!("no preview URL in {out}"))
        .trim()
        .to_string()
}

fn items(api: &str) -> i64 {
    crate::common::http()
        .get(format!("{api}/api/items"))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["total"]
        .as_i64()
        .unwrap()
}

#[test]
fn two_stacks_with_automatic_ports_run_side_by_side_with_branches_and_previews() {
    let a = crate::stack();
    let b = crate::stack();
    // B: `ports = "auto"` in its file, and an explicit API port, which wins.
    let project_b = b.dir.parent().unwrap();
    std::fs::write(project_b.join("workspace-stack.toml"), "ports = \"auto\"\n").unwrap();
    let o = a.wsctl(&["up", "--ports", "auto"]);
    assert!(o.status.success(), "{}", text(&o));
    let api_b = b.api_port.to_string();
    let o = b.wsctl(&["up", "--api-port", &api_b]);
    assert!(o.status.success(), "{}", text(&o));

    let (url_a, pg_a) = ports_of(&a);
    let (url_b, pg_b) = ports_of(&b);
    assert_eq!(
        url_b,
        format!("http://127.0.0.1:{api_b}"),
        "--api-port wins"
    );
    assert_ne!(url_a, url_b);
    assert_ne!(pg_a, pg_b);
    assert!(
        ![5433, 3200].contains(&pg_a) && !url_a.ends_with(":3200"),
        "auto means free ports, not the defaults: {url_a} {pg_a}"
    );

    // A branch with a preview API in each; each preview writes to its own stack only.
    let prev_a = preview(&a, "feature");
    let prev_b = preview(&b, "feature");
    assert_ne!(prev_a, prev_b);
    crate::branch::post_item(&prev_a, "a's preview").unwrap();
    crate::branch::post_item(&prev_b, "b's preview").unwrap();
    crate::branch::post_item(&prev_b, "b's preview again").unwrap();
    assert_eq!(items(&prev_a), 1);
    assert_eq!(items(&prev_b), 2);
    assert_eq!(items(&url_a), 0, "main of A is not touched by its preview");
    assert_eq!(items(&url_b), 0);

    // Sticky: down and up again (without the flag) keeps A's ports.
    assert!(a.wsctl(&["down"]).status.success());
    let o = a.wsctl(&["up"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(ports_of(&a), (url_a.clone(), pg_a));
    let o = b.wsctl(&["down"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = b.wsctl(&["up"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(ports_of(&b), (url_b, pg_b));
    assert!(a.wsctl(&["down"]).status.success());
    assert!(b.wsctl(&["down"]).status.success());
}

#[test]
fn a_ports_value_other_than_auto_is_refused() {
    let s = crate::stack();
    std::fs::write(
        s.dir.parent().unwrap().join("workspace-stack.toml"),
        "ports = \"random\"\n",
    )
    .unwrap();
    let o = s.wsctl(&["up"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("\"auto\""), "{}", text(&o));
}

/// wsctl on `s` with its own per-user registry under `home`.
fn with_registry(s: &crate::common::Stack, home: &std::path::Path, args: &[&str]) -> Output {
    Command::new(wsctl_bin())
        .arg("--state-dir")
        .arg(&s.dir)
        .args(args)
        .env("XDG_STATE_HOME", home)
        .env_remove("WSCTL_STATE_DIR")
        .output()
        .unwrap()
}

#[test]
fn ls_lists_every_stack_and_down_all_stops_them() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let (a, b) = (crate::stack(), crate::stack());
    for s in [&a, &b] {
        let (pg, api) = (s.pg_port.to_string(), s.api_port.to_string());
        let o = with_registry(
            s,
            home.path(),
            &["up", "--pg-port", &pg, "--api-port", &api],
        );
        assert!(o.status.success(), "{}", text(&o));
    }
    let registry = home.path().join("workspace-stack/registry.json");
    let mode = std::fs::metadata(&registry).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let ls = |s: &crate::common::Stack| -> Vec<Value> {
        let o = with_registry(s, home.path(), &["ls", "--json"]);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let listed = ls(&a);
    assert_eq!(listed.len(), 2, "{listed:?}");
    for s in [&a, &b] {
        let e = listed
            .iter()
            .find(|e| e["dir"] == s.dir.display().to_string())
            .unwrap_or_else(|| panic!("{} not in {listed:?}", s.dir.display()));
        let name = s
            .dir
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(e["name"], name);
        assert_eq!(e["backend"], "postgres");
        assert_eq!(e["runtime"], "processes");
        assert_eq!(e["running"], true);
        assert_eq!(e["api_url"], s.api());
    }
    let o = with_registry(&a, home.path(), &["ls"]);
    assert!(
        text(&o).contains(&format!("API {}", a.api())),
        "{}",
        text(&o)
    );

    // B destroyed: it drops out of the registry.
    let o = with_registry(&b, home.path(), &["down", "--destroy", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let listed = ls(&a);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(!std::fs::read_to_string(&registry)
        .unwrap()
        .contains(&b.dir.display().to_string()));

    // down --all, from anywhere: A stops.
    let o = with_registry(&b, home.path(), &["down", "--all"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&a.dir.display().to_string()),
        "{}",
        text(&o)
    );
    assert_eq!(ls(&a)[0]["running"], false);
    assert!(std::net::TcpStream::connect(("127.0.0.1", a.api_port)).is_err());
}

#[test]
fn init_refuses_a_database_on_another_host_unless_remote_ok() {
    let s = crate::stack();
    assert!(s.up().status.success());
    let password = std::fs::read_to_string(s.dir.join("secrets/pg-password")).unwrap();
    let local = format!(
        "postgres://postgres:{}@localhost:{}/workspace",
        password.trim(),
        s.pg_port
    );
    let o = s.wsctl(&["init", "--database-url", &local]);
    assert!(o.status.success(), "{}", text(&o));

    let o = s.wsctl(&["init", "--database-url", "postgres://u:p@192.0.2.1:5432/db"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("192.0.2.1") && text(&o).contains("--remote-ok"),
        "{}",
        text(&o)
    );
    // With --remote-ok it tries: this machine's own non-loopback address, where nothing of
    // the stack listens, answers with a connection error instead of the refusal.
    let udp = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    if udp.connect("192.0.2.1:9").is_ok() {
        let ip = udp.local_addr().unwrap().ip();
        if !ip.is_loopback() && !ip.is_unspecified() {
            let url = format!("postgres://u:p@{ip}:{}/db", s.pg_port);
            let o = s.wsctl(&["init", "--database-url", &url]);
            assert!(!o.status.success() && text(&o).contains(&ip.to_string()));
            assert!(text(&o).contains("refusing to write"), "{}", text(&o));
            let o = s.wsctl(&["init", "--database-url", &url, "--remote-ok"]);
            assert!(!o.status.success());
            assert!(!text(&o).contains("refusing to write"), "{}", text(&o));
        }
    }
    assert!(s.wsctl(&["down"]).status.success());
}
