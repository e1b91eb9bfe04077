//! Protected and expiring branches and snapshot retention on the postgres backend, with the
//! real supervisor's sweeper and short TTLs.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use super::{text, wait_until, wsctl_bin, Stack};

impl Stack {
    /// `up` with the sweeper checking retention every second.
    fn up_sweeping(&self) -> Output {
        Command::new(wsctl_bin())
            .arg("--state-dir")
            .arg(&self.dir)
            .args(["up", "--pg-port", &self.pg_port.to_string()])
            .args(["--api-port", &self.api_port.to_string()])
            .env("WSCTL_SWEEP_INTERVAL", "1")
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let o = self.wsctl(args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    fn names(&self, what: &str) -> Vec<String> {
        self.json(&[what, "list", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_string())
            .collect()
    }
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn protected_branches_need_force_and_expired_ones_go_with_their_preview() {
    let s = super::stack();
    assert!(s.up_sweeping().status.success());

    let o = s.wsctl(&["branch", "delete", "main", "--force", "--yes"]);
    assert!(
        !o.status.success()
            && text(&o).contains("main cannot be deleted (main is always protected)"),
        "{}",
        text(&o)
    );
    let o = s.wsctl(&["branch", "create", "keep", "--protect"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = s.wsctl(&["branch", "delete", "keep", "--yes"]);
    assert!(
        !o.status.success() && text(&o).contains("branch keep is protected — pass --force"),
        "{}",
        text(&o)
    );
    assert!(s.wsctl(&["branch", "unprotect", "keep"]).status.success());
    assert!(s.wsctl(&["branch", "protect", "keep"]).status.success());

    // Protected and expiring needs --force; then it does expire.
    let o = s.wsctl(&["branch", "create", "guarded", "--protect", "--ttl", "2s"]);
    assert!(
        !o.status.success() && text(&o).contains("--force"),
        "{}",
        text(&o)
    );
    assert!(!s.names("branch").contains(&"guarded".to_string()));
    let o = s.wsctl(&["branch", "create", "short", "--ttl", "4s", "--api"]);
    assert!(o.status.success(), "{}", text(&o));
    let preview = text(&o)
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .expect("a preview URL");
    assert!(port_open(preview));
    let o = s.wsctl(&[
        "branch",
        "create",
        "guarded",
        "--protect",
        "--ttl",
        "4s",
        "--force",
    ]);
    assert!(o.status.success(), "{}", text(&o));

    let o = s.wsctl(&["branch", "list"]);
    let list = text(&o);
    assert!(
        list.lines()
            .any(|l| l.starts_with("short ") && l.contains("expires ")),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.starts_with("keep ") && l.contains("protected")),
        "{list}"
    );
    let rows = s.json(&["branch", "list", "--json"]);
    let short = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "short")
        .unwrap();
    assert!(
        short["expires_at"].is_string() && short["protected"] == false,
        "{short}"
    );

    wait_until(
        "short and guarded to expire",
        Duration::from_secs(40),
        || {
            let names = s.names("branch");
            !names.contains(&"short".to_string()) && !names.contains(&"guarded".to_string())
        },
    );
    assert!(s.names("branch").contains(&"keep".to_string()));
    wait_until("the preview API to stop", Duration::from_secs(10), || {
        !port_open(preview)
    });
    let history = s.json(&["branch", "history", "short", "--json"]);
    let events: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["created", "expired"], "{history}");
    let o = s.wsctl(&["branch", "delete", "keep", "--force", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn automatic_snapshots_are_pruned_to_the_retention_but_never_the_newest_or_a_protected_one() {
    let s = super::stack();
    assert!(s.up_sweeping().status.success());
    assert!(s.wsctl(&["snapshot", "create", "manual"]).status.success());
    for _ in 0..4 {
        let o = s.wsctl(&["rollback", "--to", "manual"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let autos: Vec<String> = s
        .names("snapshot")
        .into_iter()
        .filter(|n| n.starts_with("auto-"))
        .collect();
    assert_eq!(autos.len(), 4, "{autos:?}");
    let (oldest, newest) = (autos[0].clone(), autos[3].clone());
    assert!(s.wsctl(&["snapshot", "protect", &oldest]).status.success());
    let o = s.wsctl(&["snapshot", "delete", &oldest, "--yes"]);
    assert!(
        !o.status.success() && text(&o).contains("is protected"),
        "{}",
        text(&o)
    );

    // The supervisor's sweeper applies workspace-stack.toml's retention.
    std::fs::write(
        s.dir.parent().unwrap().join("workspace-stack.toml"),
        "snapshot_retention = 2\n",
    )
    .unwrap();
    wait_until("the sweeper to prune", Duration::from_secs(30), || {
        s.names("snapshot").len() == 4
    });
    let left = s.names("snapshot");
    for kept in ["manual", &oldest, &autos[2], &newest] {
        assert!(left.contains(&kept.to_string()), "{kept} pruned: {left:?}");
    }

    // Keeping none still keeps the newest: a plain `wsctl rollback` restores it.
    let o = s.wsctl(&["snapshot", "prune", "--keep", "0"]);
    assert!(o.status.success(), "{}", text(&o));
    let left = s.names("snapshot");
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(left.contains(&newest) && left.contains(&oldest), "{left:?}");
    let history = s.json(&["branch", "history", &autos[1], "--json"]);
    assert_eq!(history[0]["event"], "pruned", "{history}");
}
