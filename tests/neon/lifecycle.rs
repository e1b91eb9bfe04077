//! Issue 17 on the neon backend (stand-ins): schema diff between branch timelines, a branch
//! that expires with its compute and timeline, protection, and snapshot pruning that keeps
//! what Neon refuses to delete.

use std::time::{Duration, Instant};

use serde_json::Value;
use workspace_stack::stack::connection::pg_config_on;
use workspace_stack::stack::state::StateDir;

use super::{invocations, one_at_a_time, text, NeonStack};

#[path = "../common/diff_fixture.rs"]
mod fixture;

fn exec(s: &NeonStack, branch: &str, sql: &str) {
    let dir = StateDir::resolve(Some(&s.state)).unwrap();
    let state = dir.load().unwrap().unwrap();
    let (db, port) = state.branch_target(branch);
    let config = pg_config_on(&dir, &state, &db, port).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = workspace_stack::db::connect(&config).await.unwrap();
        client.batch_execute(sql).await.unwrap();
    });
}

fn state_json(s: &NeonStack) -> Value {
    serde_json::from_slice(&std::fs::read(s.state.join("state.json")).unwrap()).unwrap()
}

fn wait(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn neon_branch_diff_expiry_protection_and_pruning() {
    let _turn = one_at_a_time();
    let mut s = NeonStack::new("wsctl-neon-life-");
    s.env.push(("WSCTL_SWEEP_INTERVAL".into(), "1".into()));
    let o = s.up(&[]);
    assert!(o.status.success(), "{}", text(&o));

    // Diff: timelines keep OIDs, so renames are renames here too.
    exec(&s, "main", fixture::BASE);
    for b in ["feat", "copy"] {
        let o = s.wsctl(&["branch", "create", b]);
        assert!(o.status.success(), "{}", text(&o));
    }
    exec(&s, "feat", fixture::CHANGES);
    let o = s.wsctl(&["branch", "diff", "feat"]);
    assert!(o.status.success(), "{}", text(&o));
    fixture::check_text(&String::from_utf8_lossy(&o.stdout));
    let o = s.wsctl(&["branch", "diff", "feat", "copy", "--sql"]);
    assert!(o.status.success(), "{}", text(&o));
    exec(&s, "copy", &String::from_utf8_lossy(&o.stdout));
    let o = s.wsctl(&["branch", "diff", "feat", "copy"]);
    assert!(
        o.status.success() && text(&o).contains("No schema differences"),
        "{}",
        text(&o)
    );

    // Protection.
    let o = s.wsctl(&["branch", "protect", "copy"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = s.wsctl(&["branch", "delete", "copy", "--yes"]);
    assert!(
        !o.status.success() && text(&o).contains("protected"),
        "{}",
        text(&o)
    );

    // Expiry: the branch, its compute and its timeline go; the history says so.
    let o = s.wsctl(&["branch", "create", "short", "--ttl", "3s"]);
    assert!(o.status.success(), "{}", text(&o));
    let timeline = state_json(&s)["neon"]["branches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "short")
        .unwrap()["timeline_id"]
        .as_str()
        .unwrap()
        .to_string();
    let o = s.wsctl(&["branch", "list"]);
    assert!(
        text(&o)
            .lines()
            .any(|l| l.starts_with("short ") && l.contains("expires")),
        "{}",
        text(&o)
    );
    wait(
        "short and its compute to go",
        Duration::from_secs(60),
        || {
            let status = std::fs::read_to_string(s.state.join("status.json")).unwrap_or_default();
            !state_json(&s)["neon"]["branches"]
                .to_string()
                .contains("\"short\"")
                && !status.contains("compute-short")
                && s.wsctl(&["branch", "history", "short"])
                    .stdout
                    .windows(7)
                    .any(|w| w == b"expired")
        },
    );
    let deleted = invocations(&s.log)
        .iter()
        .filter(|c| {
            c["program"] == "pageserver" && c["extra"]["deleted_timeline"] == timeline.as_str()
        })
        .count();
    assert_eq!(deleted, 1, "timeline {timeline} deleted on the pageserver");
    let o = s.wsctl(&["branch", "history", "short"]);
    assert!(text(&o).contains("expired"), "{}", text(&o));

    pruning_keeps_what_neon_refuses_to_delete(&s);
}

fn pruning_keeps_what_neon_refuses_to_delete(s: &NeonStack) {
    // Pruning: after three rollbacks, the first automatic snapshot (main's first timeline)
    // is the base of `manual`, so Neon keeps it; the middle one goes; the newest stays.
    assert!(s.wsctl(&["snapshot", "create", "manual"]).status.success());
    for _ in 0..3 {
        let o = s.wsctl(&["rollback", "--to", "manual"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let snaps = |s: &NeonStack| -> Vec<String> {
        state_json(s)["neon"]["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_string())
            .collect()
    };
    let before = snaps(s);
    assert_eq!(before.len(), 4, "{before:?}");
    let o = s.wsctl(&["snapshot", "prune", "--keep", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let after = snaps(s);
    assert!(
        after.contains(&"manual".to_string()) && after.contains(&before[3]),
        "{after:?}"
    );
    assert!(
        after.contains(&before[1]),
        "the base of manual is kept: {after:?}"
    );
    assert!(!after.contains(&before[2]), "{after:?}");
}
