//! `wsctl up` and `down` timings on the postgres backend: `cargo bench --bench stack_updown`.
//!
//! cold = `up` on a fresh state directory (initdb, migrations, API, health suite);
//! warm = `up` after `down` on the same directory; down = `down` of a running stack.
//! Each is run `BENCH_RUNS` times (default 5); medians and ranges are printed and written to
//! `target/bench/stack_updown.json`.

use std::os::unix::fs::PermissionsExt;

use common::{summary, wsctl};
use serde_json::json;

mod common;

fn free_port() -> u16 {
    workspace_stack::stack::ports::free_port().expect("a free loopback port")
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runs: usize = common::env_or("BENCH_RUNS", 5);
    let (mut cold, mut warm, mut down) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let tmp = tempfile::Builder::new()
            .prefix("ws-bench-stack-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let dir = tmp.path().join("state");
        let (pg, api) = (free_port().to_string(), free_port().to_string());
        let up = ["up", "--pg-port", pg.as_str(), "--api-port", api.as_str()];
        cold.push(wsctl(&dir, &up));
        down.push(wsctl(&dir, &["down"]));
        warm.push(wsctl(&dir, &up));
        down.push(wsctl(&dir, &["down"]));
        wsctl(&dir, &["down", "--purge", "--yes"]);
    }
    let report = json!({
        "cold_up": summary(cold),
        "warm_up": summary(warm),
        "down": summary(down),
    });
    common::report("stack_updown", &report);
}
