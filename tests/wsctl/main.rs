//! End-to-end tests of `wsctl` on the postgres backend: real PostgreSQL, the real API binary,
//! real signals. Each test has its own state directory and ports.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "../common/mod.rs"]
mod common;

mod branch;
mod cli;
mod concurrent;
mod diff;
mod doctor;
mod expiry;
mod import;
mod lifecycle;
mod reach;
mod security;
mod stacks;

use common::{free_port, http, text, wait_until, wsctl_bin, Stack};

fn stack() -> Stack {
    Stack::new("wsctl-test-")
}

impl Stack {
    fn up(&self) -> Output {
        self.up_with(&[])
    }

    /// `up` with the API's rate limit off (the environment reaches the API through the
    /// supervisor), for tests that write as fast as they can.
    fn up_unlimited(&self) -> Output {
        Command::new(wsctl_bin())
            .arg("--state-dir")
            .arg(&self.dir)
            .args([
                "up",
                "--pg-port",
                &self.pg_port.to_string(),
                "--api-port",
                &self.api_port.to_string(),
            ])
            .env("RATE_LIMIT_MAX", "0")
            .output()
            .unwrap()
    }

    fn status(&self) -> Value {
        serde_json::from_slice(&self.wsctl(&["status", "--json"]).stdout).unwrap()
    }

    fn pid_of(&self, service: &str) -> u32 {
        self.status()["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == service)
            .and_then(|s| s["pid"].as_u64())
            .unwrap_or_else(|| panic!("{service} has no pid: {}", self.status())) as u32
    }
}

#[test]
fn up_test_down_up_keeps_data() {
    let s = stack();
    let o = s.up();
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("0 failed"), "{out}");
    assert!(
        out.contains(&format!("http://127.0.0.1:{}", s.api_port)),
        "{out}"
    );
    let password = std::fs::read_to_string(s.dir.join("secrets/pg-password")).unwrap();
    assert!(
        !out.contains(password.trim()),
        "up must not print the password"
    );
    let mode = std::fs::metadata(s.dir.join("secrets/pg-password"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // The database URL without its password, as the text output gives it.
    assert_eq!(
        s.status()["database_url"],
        format!("postgres://postgres@127.0.0.1:{}/workspace", s.pg_port)
    );

    let o = s.wsctl(&["test", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["total"].as_u64().unwrap() >= 12, "{report}");
    assert_eq!(report["failed"], 0);

    let created: Value = http()
        .post(format!("{}/api/items", s.api()))
        .json(&serde_json::json!({"title": "survives restart", "description": "d", "category": "dashboard", "priority": "high"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = created["data"]["id"].as_str().unwrap().to_string();

    // Idempotent: a second up changes nothing.
    let before = s.pid_of("postgres");
    let o = s.up();
    assert!(
        o.status.success() && text(&o).contains("already running"),
        "{}",
        text(&o)
    );
    assert_eq!(s.pid_of("postgres"), before);

    let started = Instant::now();
    let o = s.wsctl(&["down"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(s.status()["running"], false);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", s.pg_port)).is_err(),
        "postgres still listening"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", s.api_port)).is_err(),
        "api still listening"
    );

    let o = s.up();
    assert!(o.status.success(), "{}", text(&o));
    let got: Value = http()
        .get(format!("{}/api/items/{id}", s.api()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(got["data"]["title"], "survives restart");
    let url = String::from_utf8(s.wsctl(&["url"]).stdout).unwrap();
    assert!(
        url.starts_with("postgres://postgres:")
            && url.contains(&format!(":{}/workspace", s.pg_port)),
        "{url}"
    );
}

#[test]
fn killed_services_are_restarted_and_recorded() {
    let s = stack();
    assert!(s.up().status.success());
    for service in ["workspace-api", "postgres"] {
        let pid = s.pid_of(service);
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        wait_until(
            &format!("{service} restarted"),
            Duration::from_secs(30),
            || {
                let st = s.status();
                st["services"].as_array().unwrap().iter().any(|x| {
                    x["name"] == service
                        && x["restarts"].as_u64() >= Some(1)
                        && x["alive"] == true
                        && x["pid"].as_u64() != Some(pid as u64)
                })
            },
        );
        wait_until(
            "health suite passing again",
            Duration::from_secs(30),
            || s.wsctl(&["test"]).status.success(),
        );
    }
    let st = s.status();
    let api = st["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "workspace-api")
        .unwrap();
    assert!(
        api["last_exit"].as_str().unwrap().contains("signal: 9"),
        "{st}"
    );
}

#[test]
fn killing_the_supervisor_takes_its_children_and_up_recovers() {
    let s = stack();
    assert!(s.up().status.success());
    let pg = s.pid_of("postgres");
    let api = s.pid_of("workspace-api");
    let sup: u32 = std::fs::read_to_string(s.dir.join("supervisor.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    unsafe { libc::kill(sup as i32, libc::SIGKILL) };
    let gone = |pid: u32| unsafe { libc::kill(pid as i32, 0) } != 0;
    wait_until(
        "children stopped with their supervisor",
        Duration::from_secs(20),
        || gone(pg) && gone(api),
    );
    assert_eq!(s.status()["running"], false);
    let o = s.up();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_busy_port_is_reported_before_anything_starts() {
    let s = stack();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let o = s.wsctl(&[
        "up",
        "--pg-port",
        &port.to_string(),
        "--api-port",
        &s.api_port.to_string(),
    ]);
    assert!(!o.status.success());
    let err = text(&o);
    assert!(
        err.contains(&format!(
            "port {port} (wanted by postgres) is in use by pid {}",
            std::process::id()
        )) && err.contains("--pg-port"),
        "{err}"
    );
    assert!(!s.dir.join("postgres").exists(), "nothing may start");
}

#[test]
fn missing_postgres_binaries_say_how_to_get_them() {
    let s = stack();
    let empty = tempfile::tempdir().unwrap();
    let o = s.wsctl(&["up", "--pg-bin", empty.path().to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no initdb in"), "{}", text(&o));
    // With nothing on PATH and no Debian layout override, the message names the fixes.
    let o = Command::new(wsctl_bin())
        .args(["--state-dir", s.dir.to_str().unwrap(), "up"])
        .env("PATH", empty.path())
        .env("WSCTL_PG_BIN", empty.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
}

#[test]
fn a_corrupt_state_file_is_named_with_the_fix() {
    let s = stack();
    std::fs::create_dir_all(&s.dir).unwrap();
    std::fs::write(s.dir.join("state.json"), "{\"version\": 1, \"backend\":").unwrap();
    let o = s.up();
    assert!(!o.status.success());
    let err = text(&o);
    assert!(
        err.contains("state.json is corrupt") && err.contains("--purge"),
        "{err}"
    );
    let o = s.wsctl(&["down", "--purge", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(s.up().status.success());
}

#[test]
fn two_concurrent_ups_start_one_stack() {
    let s = stack();
    let args = [
        "up",
        "--pg-port",
        &s.pg_port.to_string(),
        "--api-port",
        &s.api_port.to_string(),
    ]
    .map(str::to_string);
    let spawn = || {
        Command::new(wsctl_bin())
            .arg("--state-dir")
            .arg(&s.dir)
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let ok = [&a, &b].iter().filter(|o| o.status.success()).count();
    assert!(ok >= 1, "{}\n---\n{}", text(&a), text(&b));
    // Whichever lost the race either waited for the winner or was told a port was taken;
    // never two supervisors.
    let supervisors = Command::new("pgrep")
        .args(["-f", &format!("{} supervise", s.dir.display())])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&supervisors.stdout).lines().count(),
        1
    );
    assert!(s.wsctl(&["test"]).status.success());
}

#[test]
fn commands_on_a_stopped_or_missing_stack_explain_themselves() {
    let s = stack();
    let o = s.wsctl(&["down"]);
    assert!(
        o.status.success() && text(&o).contains("not running"),
        "{}",
        text(&o)
    );
    let o = s.wsctl(&["test"]);
    assert!(
        !o.status.success() && text(&o).contains("wsctl up"),
        "{}",
        text(&o)
    );
    let o = s.wsctl(&["down", "--purge"]);
    assert!(
        !o.status.success() && text(&o).contains("--yes"),
        "{}",
        text(&o)
    );
    assert_eq!(s.wsctl(&["status"]).status.code(), Some(3));
}

#[test]
fn logs_and_status_show_each_service() {
    let s = stack();
    assert!(s.up().status.success());
    let o = s.wsctl(&["logs", "workspace-api"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("workspace-api listening"));
    let o = s.wsctl(&["logs", "nope"]);
    assert!(
        !o.status.success() && text(&o).contains("services with logs"),
        "{}",
        text(&o)
    );
    let o = s.wsctl(&["status"]);
    let out = text(&o);
    assert!(
        out.contains("postgres") && out.contains("workspace-api") && out.contains("running"),
        "{out}"
    );
    let o = s.wsctl(&[
        "psql",
        "-At",
        "-c",
        "SELECT count(*) FROM workspace.workspace_categories",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "6",
        "{}",
        text(&o)
    );
}

#[test]
fn foreground_up_stops_everything_on_ctrl_c() {
    use std::io::{BufRead, BufReader};
    let s = stack();
    let mut child = Command::new(wsctl_bin())
        .arg("--state-dir")
        .arg(&s.dir)
        .args([
            "up",
            "--foreground",
            "--pg-port",
            &s.pg_port.to_string(),
            "--api-port",
            &s.api_port.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, mut rest) = std::thread::spawn(move || {
        let mut seen = String::new();
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            seen.push_str(&line);
            if line.contains("Press Ctrl-C") {
                break;
            }
            line.clear();
        }
        (seen, reader)
    })
    .join()
    .unwrap();
    assert!(lines.contains("0 failed"), "{lines}");
    assert_eq!(s.status()["running"], true);
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut after = String::new();
    std::io::Read::read_to_string(&mut rest, &mut after).unwrap();
    assert!(after.contains("Stopped."), "{after}");
    // The services' lines streamed with their names, the supervisor's among them (its log
    // written as a detached supervisor writes it).
    let all = format!("{lines}{after}");
    let streamed = |service: &str| {
        all.lines()
            .any(|l| l.starts_with(service) && l.contains(" | "))
    };
    assert!(streamed("postgres") && streamed("supervisor"), "{all}");
    let log = std::fs::read_to_string(s.dir.join("logs/supervisor.log")).unwrap();
    assert!(log.contains("stack ready"), "{log}");
    assert_eq!(s.status()["running"], false);
    assert!(std::net::TcpStream::connect(("127.0.0.1", s.api_port)).is_err());
    assert!(std::net::TcpStream::connect(("127.0.0.1", s.pg_port)).is_err());
}

/// `kill -9` of PostgreSQL while clients write: the API answers writes again within 2 s of
/// the kill (the supervisor restarts PostgreSQL at once, crash recovery is short), and every
/// write it acknowledged is still there afterwards.
#[test]
fn postgres_killed_under_write_load_answers_again_within_two_seconds() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let s = stack();
    let o = s.up();
    assert!(o.status.success(), "{}", text(&o));
    let api = s.api();
    let stop = Arc::new(AtomicBool::new(false));
    // Every write's outcome: when it was answered, and the id if it was acknowledged.
    type Events = Arc<Mutex<Vec<(Instant, Option<String>)>>>;
    let events: Events = Arc::default();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (api, stop, events) = (api.clone(), stop.clone(), events.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let r = client
                        .post(format!("{api}/api/items"))
                        .json(&serde_json::json!({"title": format!("w{w}-{n}"), "description": "d", "category": "dashboard", "priority": "low"}))
                        .send();
                    let id = match r {
                        Ok(r) if r.status() == 201 => r.json::<Value>().ok().and_then(|v| {
                            v["data"]["id"].as_str().map(str::to_string)
                        }),
                        _ => None,
                    };
                    let failed = id.is_none();
                    events.lock().unwrap().push((Instant::now(), id));
                    if failed {
                        // 503s or refused connections while PostgreSQL is away.
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let pid = s.pid_of("postgres");
    let killed = Instant::now();
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    // The outage: from the kill to the first acknowledged write after the first failed one
    // (backends that outlive their postmaster for a moment may still commit a few).
    let recovered = || {
        let ev = events.lock().unwrap();
        let first_failure = ev.iter().find(|(t, id)| *t > killed && id.is_none())?.0;
        ev.iter()
            .find(|(t, id)| *t > first_failure && id.is_some())
            .map(|(t, _)| *t)
    };
    wait_until(
        "writes acknowledged again after the kill",
        Duration::from_secs(30),
        || recovered().is_some(),
    );
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let gap = recovered().unwrap() - killed;
    eprintln!(
        "writes answered again {} ms after kill -9 of PostgreSQL",
        gap.as_millis()
    );
    assert!(
        gap < Duration::from_secs(2),
        "the API answered writes again only after {gap:?}"
    );
    // Durable: every acknowledged write survived the crash.
    let ids: Vec<i32> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, id)| id.as_ref()?.parse().ok())
        .collect();
    assert!(ids.len() > 50, "the writers were writing: {}", ids.len());
    let url = String::from_utf8(s.wsctl(&["url"]).stdout).unwrap();
    let found: i64 = super_rt().block_on(async {
        let client = workspace_stack::db::connect(&url.trim().parse().unwrap())
            .await
            .unwrap();
        client
            .query_one(
                "SELECT count(*) FROM workspace.workspace_items WHERE id = ANY($1)",
                &[&ids],
            )
            .await
            .unwrap()
            .get(0)
    });
    assert_eq!(
        found,
        ids.len() as i64,
        "acknowledged writes lost in the crash"
    );
}

/// A SIGHUP (what a backend sends when state.json changes, e.g. `branch create` while `up`
/// still starts the stack: the lock is already held) must wait for the supervisor's loop,
/// not end the supervisor.
#[test]
fn a_sighup_while_the_stack_starts_is_handled_once_it_is_ready() {
    let s = stack();
    let (pg, api) = (s.pg_port.to_string(), s.api_port.to_string());
    let up = Command::new(wsctl_bin())
        .arg("--state-dir")
        .arg(&s.dir)
        .args(["up", "--pg-port", &pg, "--api-port", &api])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let starting = || {
        std::fs::read(s.dir.join("status.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .filter(|v| v["phase"] == "starting")
            .and_then(|v| v["supervisor_pid"].as_i64())
    };
    let mut pid = None;
    wait_until(
        "the supervisor's starting phase",
        Duration::from_secs(30),
        || {
            pid = starting();
            pid.is_some()
        },
    );
    // SAFETY: kill has no memory preconditions.
    assert_eq!(unsafe { libc::kill(pid.unwrap() as i32, libc::SIGHUP) }, 0);
    let out = up.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(s.status()["phase"], "ready", "{}", s.status());
    assert!(s.wsctl(&["test"]).status.success());
}

fn super_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
