//! Branches, snapshots, rollback and safe migrations on the postgres backend, for real.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;
use workspace_stack::branch::{self, MAIN};
use workspace_stack::db::migrations::{Migration, MIGRATIONS};
use workspace_stack::stack::connection::pg_config;
use workspace_stack::stack::state::StateDir;

use super::{http, text, Stack};

pub(crate) fn post_item(api: &str, title: &str) -> Option<String> {
    try_post(api, title).ok()
}

fn try_post(api: &str, title: &str) -> Result<String, String> {
    let r = http()
        .post(format!("{api}/api/items"))
        .json(&json!({"title": title, "description": "d", "category": "dashboard", "priority": "low", "tags": ["t"], "metadata": {"k": title}}))
        .send()
        .map_err(|e| e.to_string())?;
    let code = r.status().as_u16();
    let body = r.text().map_err(|e| e.to_string())?;
    if code != 201 {
        return Err(format!("{code} {body}"));
    }
    let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    v["data"]["id"].as_str().map(str::to_string).ok_or(body)
}

pub(super) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub(super) fn checksums(s: &Stack) -> Vec<(String, i64, String)> {
    let dir = StateDir {
        root: s.dir.clone(),
    };
    let state = dir.load().unwrap().unwrap();
    rt().block_on(async {
        let client =
            workspace_stack::db::connect(&pg_config(&dir, &state, &state.database).unwrap())
                .await
                .unwrap();
        branch::checksums(&client).await.unwrap()
    })
}

#[test]
fn rollback_restores_every_table_row_for_row_and_can_be_undone() {
    let s = super::stack();
    assert!(s.up().status.success());
    for i in 0..20 {
        post_item(&s.api(), &format!("before {i}")).unwrap();
    }
    let at_snapshot = checksums(&s);
    let o = s.wsctl(&["snapshot", "create", "good"]);
    assert!(o.status.success(), "{}", text(&o));
    for i in 0..7 {
        post_item(&s.api(), &format!("after {i}")).unwrap();
    }
    http()
        .put(format!("{}/api/categories/dashboard", s.api()))
        .json(&json!({"display_name": "Changed"}))
        .send()
        .unwrap();
    let after_writes = checksums(&s);
    assert_ne!(after_writes, at_snapshot);

    let o = s.wsctl(&["rollback", "--to", "good"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("workspace_items") && text(&o).contains("0 failed"),
        "{}",
        text(&o)
    );
    assert_eq!(
        checksums(&s),
        at_snapshot,
        "every table equal to the snapshot, row for row"
    );
    // The API serves the restored data without a restart.
    let list: serde_json::Value = http()
        .get(format!("{}/api/items?limit=1000", s.api()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(list["total"], 20);

    // The state before the rollback was kept: rolling back to it undoes the rollback.
    let before = text(&o)
        .split("the state before is snapshot ")
        .nth(1)
        .unwrap()
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
        .split('.')
        .next()
        .unwrap()
        .to_string();
    // It says so in a line to copy.
    let undo = format!("undo: wsctl rollback --to {before}\n");
    assert!(text(&o).contains(&undo), "no {undo:?} in {}", text(&o));
    let o = s.wsctl(&["rollback", "--to", &before]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(checksums(&s), after_writes);
}

/// Deleting cannot be undone: without a terminal to ask on, only `--yes` deletes.
#[test]
fn deletes_need_yes_when_not_on_a_terminal() {
    let s = super::stack();
    assert!(s.up().status.success());
    assert!(s.wsctl(&["branch", "create", "gone"]).status.success());
    assert!(s.wsctl(&["snapshot", "create", "old"]).status.success());
    for (kind, name) in [("branch", "gone"), ("snapshot", "old")] {
        // `output()` gives the child a closed stdin: not a terminal.
        let o = s.wsctl(&[kind, "delete", name]);
        assert!(!o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("pass --yes"), "{}", text(&o));
        let list = text(&s.wsctl(&[kind, "list"]));
        assert!(
            list.contains(name),
            "{kind} {name} was deleted anyway: {list}"
        );

        let o = s.wsctl(&[kind, "delete", name, "--yes"]);
        assert!(o.status.success(), "{}", text(&o));
        let list = text(&s.wsctl(&[kind, "list"]));
        assert!(!list.contains(name), "{kind} {name} is still there: {list}");
    }
}

#[test]
fn a_broken_migration_is_rolled_back_automatically() {
    let s = super::stack();
    assert!(s.up().status.success());
    for i in 0..5 {
        post_item(&s.api(), &format!("keep {i}")).unwrap();
    }
    let before = checksums(&s);
    let dir = StateDir {
        root: s.dir.clone(),
    };
    let state = dir.load().unwrap().unwrap();
    // A migration that changes data, then fails half-way through.
    let mut list: Vec<Migration> = MIGRATIONS.to_vec();
    list.push(Migration {
        version: MIGRATIONS.len() as i32 + 1,
        name: "broken",
        sql: "UPDATE workspace.workspace_items SET title = 'clobbered'; ALTER TABLE workspace.no_such_table ADD COLUMN x int;",
    });
    let outcome = rt().block_on(async {
        let admin = workspace_stack::db::connect(&pg_config(&dir, &state, "postgres").unwrap())
            .await
            .unwrap();
        let main = pg_config(&dir, &state, &state.database).unwrap();
        branch::safe_migrate(&admin, &main, &state.database, &list)
            .await
            .unwrap()
    });
    let error = outcome
        .rolled_back_after
        .expect("the broken migration must be reported");
    assert!(error.contains("broken"), "{error}");
    assert_eq!(checksums(&s), before, "main exactly as it was");
    assert!(s.wsctl(&["test"]).status.success());
    let o = s.wsctl(&["migrate"]);
    assert!(
        o.status.success() && text(&o).contains("Nothing to migrate"),
        "{}",
        text(&o)
    );
    let o = s.wsctl(&["migrate", "status"]);
    assert!(text(&o).contains("applied"), "{}", text(&o));
}

#[test]
fn branch_operations_under_concurrent_writes_lose_no_acknowledged_write() {
    let s = super::stack();
    assert!(s.up_unlimited().status.success());
    let api = s.api();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut acked, mut failed) = (Vec::new(), Vec::new());
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                match try_post(&api, &format!("w{i}")) {
                    Ok(id) => acked.push(id),
                    Err(e) => failed.push(e),
                }
                i += 1;
            }
            (acked, failed)
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    for name in ["b1", "b2"] {
        let o = s.wsctl(&["branch", "create", name]);
        assert!(o.status.success(), "{}", text(&o));
    }
    assert!(s.wsctl(&["snapshot", "create"]).status.success());
    let o = s.wsctl(&["branch", "create", "b3", "--from", "b1"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = s.wsctl(&["branch", "delete", "b1", "--yes"]);
    assert!(
        !o.status.success() && text(&o).contains("has children"),
        "{}",
        text(&o)
    );
    for name in ["b3", "b1", "b2"] {
        assert!(s
            .wsctl(&["branch", "delete", name, "--yes"])
            .status
            .success());
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (acked, failed) = writer.join().unwrap();
    assert!(acked.len() > 20, "{} writes", acked.len());
    assert!(
        failed.is_empty(),
        "clients saw {} errors during branch operations, e.g. {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    let list: serde_json::Value = http()
        .get(format!("{}/api/items?limit=1000", s.api()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let ids: std::collections::HashSet<String> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    for id in &acked {
        assert!(ids.contains(id), "acknowledged item {id} is missing");
    }
}

#[test]
fn switch_serves_the_branch_and_rules_are_enforced() {
    let s = super::stack();
    assert!(s.up().status.success());
    post_item(&s.api(), "on main").unwrap();
    assert!(s.wsctl(&["branch", "create", "preview"]).status.success());
    assert!(s.wsctl(&["branch", "switch", "preview"]).status.success());
    post_item(&s.api(), "on preview").unwrap();
    let total = |s: &Stack| -> i64 {
        http()
            .get(format!("{}/api/items", s.api()))
            .send()
            .unwrap()
            .json::<serde_json::Value>()
            .unwrap()["total"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(total(&s), 2);
    let o = s.wsctl(&["branch", "delete", "preview", "--yes"]);
    assert!(
        !o.status.success() && text(&o).contains("switch main"),
        "{}",
        text(&o)
    );
    assert!(s.wsctl(&["branch", "switch", MAIN]).status.success());
    assert_eq!(total(&s), 1, "main did not see the branch's write");
    for (args, needle) in [
        (
            vec!["branch", "delete", "main", "--yes"],
            "main cannot be deleted",
        ),
        (vec!["branch", "create", "Bad_Name"], "not a valid name"),
        (
            vec!["branch", "create", "x", "--at", "2026-01-01T00:00:00Z"],
            "need the neon backend",
        ),
        (
            vec!["branch", "create", "y", "--from", "nope"],
            "no branch named nope",
        ),
        (vec!["rollback"], "no automatic snapshot"),
    ] {
        let o = s.wsctl(&args);
        assert!(
            !o.status.success() && text(&o).contains(needle),
            "{args:?}: {}",
            text(&o)
        );
    }
    let o = s.wsctl(&["branch", "list", "--json"]);
    let l: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(l.as_array().unwrap().len(), 2);
    // main's real creation time (this test's own `up`), not 1970.
    let main = l
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "main")
        .unwrap();
    let created: chrono::DateTime<chrono::Utc> =
        main["created_at"].as_str().unwrap().parse().unwrap();
    let age = chrono::Utc::now() - created;
    assert!(
        age >= chrono::Duration::zero() && age < chrono::Duration::minutes(10),
        "main created at {created}"
    );
}

#[test]
fn a_branch_can_have_its_own_preview_api() {
    let s = super::stack();
    assert!(s.up().status.success());
    post_item(&s.api(), "before the branch").unwrap();
    let o = s.wsctl(&["branch", "create", "preview", "--api"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    let url = out
        .lines()
        .find_map(|l| l.strip_prefix("Preview API for preview: "))
        .unwrap_or_else(|| panic!("no preview URL in {out}"))
        .trim()
        .to_string();
    post_item(&url, "only on the preview").unwrap();
    let total = |api: &str| -> i64 {
        http()
            .get(format!("{api}/api/items"))
            .send()
            .unwrap()
            .json::<serde_json::Value>()
            .unwrap()["total"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(total(&url), 2);
    assert_eq!(
        total(&s.api()),
        1,
        "main is not affected by the preview's writes"
    );
    let st = s.status();
    assert!(
        st["services"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["name"] == "workspace-api-preview" && x["alive"] == true),
        "{st}"
    );
    // branch list says how to reach each branch, and which one the API serves.
    let o = s.wsctl(&["branch", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let row = |n: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("no {n} in {rows}"))
    };
    let password = std::fs::read_to_string(s.dir.join("secrets/pg-password")).unwrap();
    let (main, preview) = (row("main"), row("preview"));
    assert_eq!(preview["api_url"], url.as_str(), "{rows}");
    assert_eq!(main["api_url"], s.api().as_str(), "{rows}");
    assert_eq!(
        (main["served"].clone(), preview["served"].clone()),
        (true.into(), false.into())
    );
    let conn = preview["connection"].as_str().unwrap();
    assert!(
        conn.starts_with("postgres://") && conn.ends_with("/ws_branch_preview"),
        "{conn}"
    );
    assert!(!rows.to_string().contains(password.trim()), "{rows}");
    let list = text(&s.wsctl(&["branch", "list"]));
    assert!(list.contains(&url) && list.contains("API SERVES"), "{list}");
    assert!(!list.contains(password.trim()), "{list}");
    // status lists the same reach: each branch, its connection, its preview, what is served.
    let st = s.status();
    let reach = st["branches"].as_array().unwrap_or_else(|| panic!("{st}"));
    let names: Vec<_> = reach.iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["main", "preview"], "{st}");
    assert_eq!(reach[1]["api_url"], url.as_str(), "{st}");
    assert_eq!(reach[1]["connection"], conn, "{st}");
    assert_eq!(
        (reach[0]["served"].clone(), reach[1]["served"].clone()),
        (true.into(), false.into())
    );
    let status_text = text(&s.wsctl(&["status"]));
    assert!(
        status_text.contains("API SERVES")
            && status_text.contains(&url)
            && status_text.contains(conn),
        "{status_text}"
    );
    assert!(!status_text.contains(password.trim()), "{status_text}");
    let o = s.wsctl(&["branch", "switch", "preview"]);
    assert!(o.status.success(), "{}", text(&o));
    let st = s.status();
    assert_eq!(st["branches"][1]["served"], true, "{st}");
    let o = s.wsctl(&["branch", "switch", "main"]);
    assert!(o.status.success(), "{}", text(&o));

    let o = s.wsctl(&["branch", "delete", "preview", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        http().get(format!("{url}/healthz")).send().is_err(),
        "the preview API is stopped with its branch"
    );
}
