//! Branch, snapshot and rollback timings with 100,000 items on the postgres backend:
//! `cargo bench --bench branch_ops`. Each operation is timed through `wsctl` itself, `BENCH_RUNS`
//! times (default 3); medians go to stdout and `target/bench/branch_ops.json`.

use std::os::unix::fs::PermissionsExt;

use common::{summary, wsctl};
use serde_json::json;

mod common;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runs: usize = common::env_or("BENCH_RUNS", 3);
    let items: u32 = common::env_or("BENCH_ITEMS", 100_000);
    let tmp = tempfile::Builder::new()
        .prefix("ws-bench-branch-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("state");
    let port = |()| {
        workspace_stack::stack::ports::free_port()
            .unwrap()
            .to_string()
    };
    let (pg, api) = (port(()), port(()));
    wsctl(&dir, &["up", "--pg-port", &pg, "--api-port", &api]);
    let seed = format!(
        "INSERT INTO workspace.workspace_items (title, description, category, priority, status, tags, metadata)
         SELECT 'Item ' || g, repeat('description ', 10), 'dashboard', 'low', 'new', ARRAY['t' || (g % 50)],
                jsonb_build_object('seq', g) FROM generate_series(1, {items}) g"
    );
    wsctl(&dir, &["psql", "-q", "-c", &seed, "-c", "VACUUM ANALYZE"]);
    let (mut branch, mut snapshot, mut rollback) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        let b = format!("bench-{i}");
        branch.push(wsctl(&dir, &["branch", "create", &b]));
        wsctl(&dir, &["branch", "delete", &b, "--yes"]);
        let s = format!("bench-snap-{i}");
        snapshot.push(wsctl(&dir, &["snapshot", "create", &s]));
        rollback.push(wsctl(&dir, &["rollback", "--to", &s]));
    }
    wsctl(&dir, &["down", "--purge", "--yes"]);
    let report = json!({
        "items": items,
        "branch_create": summary(branch),
        "snapshot_create": summary(snapshot),
        "rollback_including_health_suite": summary(rollback),
    });
    common::report("branch_ops", &report);
}
