//! `up`, `status` and the answers of a stopped stack as a user meets them (issue 15): `up`
//! waits for its own supervisor, a failed or interrupted start leaves nothing running, a
//! stack with a service down says so, and every command on a stopped stack gives one
//! message and one exit code.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::common::{text, wait_until, wsctl_bin};
use super::stack;

/// The exit code of every command on a stopped stack (`wsctl status`'s).
const NOT_RUNNING: i32 = 3;
const DEGRADED: i32 = 4;

fn closed(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
}

#[test]
fn up_waits_for_its_own_supervisor_not_the_last_runs_status() {
    let s = stack();
    assert!(s.up().status.success());
    assert!(s.wsctl(&["down"]).status.success());
    // What an interrupted start leaves behind: a failed status.json of a gone supervisor.
    std::fs::write(
        s.dir.join("status.json"),
        r#"{"phase":"failed","error":"initdb failed: the previous run's error","supervisor_pid":1,"services":[]}"#,
    )
    .unwrap();
    let o = s.up();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("previous run"), "{}", text(&o));
    assert_eq!(s.status()["running"], true);
}

#[test]
fn up_that_times_out_stops_what_it_started() {
    let s = stack();
    let o = s.up_with(&["--timeout", "0"]);
    assert!(!o.status.success());
    let out = text(&o);
    assert!(
        out.contains("not healthy within 0s") && out.contains("stopped what this `up` started"),
        "{out}"
    );
    assert_eq!(s.wsctl(&["status"]).status.code(), Some(NOT_RUNNING));
    assert!(closed(s.pg_port) && closed(s.api_port));
    // And the next `up` starts it.
    assert!(s.up().status.success());
}

#[test]
fn ctrl_c_during_a_first_start_says_interrupted_and_leaves_nothing() {
    let s = stack();
    let child = Command::new(wsctl_bin())
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
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The supervisor has taken the stack and starts PostgreSQL (initdb on a first start).
    wait_until("the start began", Duration::from_secs(30), || {
        std::fs::read_to_string(s.dir.join("status.json")).is_ok_and(|t| t.contains("starting"))
    });
    // A terminal's Ctrl-C: SIGINT to the whole process group, initdb included.
    unsafe { libc::killpg(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(130), "{out}");
    assert!(out.contains("interrupted (SIGINT)"), "{out}");
    assert!(!out.contains("initdb"), "{out}");
    assert_eq!(s.status()["running"], false);
    assert!(closed(s.pg_port) && closed(s.api_port));
    let o = s.up();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn status_is_degraded_while_a_service_restarts() {
    let s = stack();
    assert!(s.up().status.success());
    assert_eq!(s.wsctl(&["status"]).status.code(), Some(0));
    let pid = s.pid_of("workspace-api");
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let o = s.wsctl(&["status"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(DEGRADED), "{out}");
    assert!(
        out.contains("Stack degraded") && out.contains("workspace-api is down or restarting since"),
        "{out}"
    );
    let st = s.status();
    assert_eq!(st["phase"], "degraded", "{st}");
    assert_eq!(st["degraded"][0]["name"], "workspace-api", "{st}");
    wait_until(
        "the API back and status ready",
        Duration::from_secs(30),
        || s.wsctl(&["status"]).status.code() == Some(0),
    );
    assert_eq!(s.status()["phase"], "ready");
}

#[test]
fn every_command_on_a_stopped_stack_gives_one_answer() {
    let s = stack();
    let message = format!(
        "the stack in {} is not running — `wsctl up`",
        s.dir.display()
    );
    let check = |when: &str, args: &[&str]| {
        let o = s.wsctl(args);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(NOT_RUNNING), "{when} {args:?}: {out}");
        assert!(out.contains(&message), "{when} {args:?}: {out}");
        assert!(
            !out.contains("connection refused"),
            "{when} {args:?}: {out}"
        );
    };
    for args in [
        &["test"][..],
        &["psql"],
        &["init"],
        &["logs"],
        &["url"],
        &["branch", "list"],
    ] {
        check("never started", args);
    }
    assert_eq!(s.wsctl(&["status"]).status.code(), Some(NOT_RUNNING));
    assert!(s.up().status.success());
    assert!(s.wsctl(&["down"]).status.success());
    for args in [
        &["test"][..],
        &["psql", "-c", "select 1"],
        &["init"],
        &["url"],
        &["url", "--api"],
        &["branch", "list"],
        &["snapshot", "create"],
    ] {
        check("stopped", args);
    }
    assert_eq!(s.wsctl(&["status"]).status.code(), Some(NOT_RUNNING));
    // The logs of a stopped stack are still there to read.
    assert!(s.wsctl(&["logs", "supervisor"]).status.success());
}

#[test]
fn up_with_other_flags_on_a_running_stack_says_what_differs() {
    let s = stack();
    assert!(s.up().status.success());
    let other = super::free_port().to_string();
    let o = s.wsctl(&[
        "up",
        "--pg-port",
        &s.pg_port.to_string(),
        "--api-port",
        &other,
    ]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains(&format!("--api-port {other} (running: {})", s.api_port))
            && out.contains("`wsctl down` first"),
        "{out}"
    );
    let o = s.up();
    assert!(
        o.status.success() && text(&o).contains("already running"),
        "{}",
        text(&o)
    );
}

#[test]
fn logs_are_prefixed_readable_cut_and_followed_from_the_end() {
    let s = stack();
    assert!(s.up().status.success());
    let lines = |args: &[&str]| -> Vec<String> {
        let o = s.wsctl(args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(String::from)
            .collect()
    };
    let all = lines(&["logs"]);
    for service in ["postgres", "supervisor", "workspace-api"] {
        assert!(
            all.iter()
                .any(|l| l.starts_with(service) && l.contains(" | ")),
            "{service}: {all:?}"
        );
    }
    assert!(all.iter().all(|l| l.contains(" | ")), "{all:?}");
    // The supervisor's JSON lines are readable by default and raw with --json.
    let sup = lines(&["logs", "supervisor"]);
    assert!(
        sup.iter()
            .any(|l| l.contains("INFO") && l.contains("stack ready")),
        "{sup:?}"
    );
    assert!(!sup.iter().any(|l| l.contains("| {")), "{sup:?}");
    let raw = lines(&["logs", "supervisor", "--json"]);
    assert!(raw.iter().all(|l| l.contains("| {")), "{raw:?}");
    assert_eq!(lines(&["logs", "-n", "2", "workspace-api"]).len(), 2);
    assert!(lines(&["logs", "supervisor", "--since", "2100-01-01T00:00:00Z"]).is_empty());
    assert!(!lines(&["logs", "supervisor", "--since", "1h"]).is_empty());
    let o = s.wsctl(&["logs", "--since", "yesterday"]);
    assert!(
        !o.status.success() && text(&o).contains("90s"),
        "{}",
        text(&o)
    );
    // -f starts from the last 10 lines of each log, then follows: give postgres's log more
    // than 10 (a quiet stack's logs may all be shorter).
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(s.dir.join("logs/postgres.log"))
            .unwrap();
        for k in 0..15 {
            writeln!(f, "marker line {k}").unwrap();
        }
    }
    let all = lines(&["logs"]);
    let o = Command::new("timeout")
        .args(["-s", "INT", "2", wsctl_bin(), "--state-dir"])
        .arg(&s.dir)
        .args(["logs", "-f"])
        .output()
        .unwrap();
    let followed: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(String::from)
        .collect();
    for service in ["postgres", "supervisor", "workspace-api"] {
        let n = followed
            .iter()
            .filter(|l| l.starts_with(&format!("{service} ")))
            .count();
        assert!((1..=10).contains(&n), "{service}: {n} in {followed:?}");
    }
    assert!(
        followed.len() < all.len(),
        "{} of {}",
        followed.len(),
        all.len()
    );
}
