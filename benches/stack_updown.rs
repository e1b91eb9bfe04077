//! `wsctl up` and `down` timings on the postgres backend: `cargo bench --bench stack_updown`.
//!
//! cold = `up` on a fresh state directory (initdb, migrations, API, health suite);
//! warm = `up` after `down` on the same directory; down = `down` of a running stack.
//! Each is run `BENCH_RUNS` times (default 5); medians and ranges are printed and written to
//! `target/bench/stack_updown.json`.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Instant;

use serde_json::json;

fn free_port() -> u16 {
    workspace_stack::stack::ports::free_port().expect("a free loopback port")
}

fn wsctl(dir: &std::path::Path, args: &[&str]) -> f64 {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_wsctl"))
        .arg("--state-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run wsctl");
    let secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "wsctl {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    secs
}

fn summary(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(f64::total_cmp);
    json!({"median_s": v[v.len() / 2], "min_s": v[0], "max_s": v[v.len() - 1], "runs": v.len()})
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
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
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("stack_updown.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}
