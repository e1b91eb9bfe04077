//! Shared by the stack benchmarks: timing `wsctl` runs and summarising them.

use std::process::Command;
use std::time::Instant;

use serde_json::json;

/// A number from the environment (`BENCH_RUNS`, `BENCH_ITEMS`, …), else `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs the real `wsctl` on `dir` and returns how long it took; fails loudly if it fails.
pub fn wsctl(dir: &std::path::Path, args: &[&str]) -> f64 {
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

/// Median, range and count of a set of timings, in seconds.
pub fn summary(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(f64::total_cmp);
    json!({"median_s": v[v.len() / 2], "min_s": v[0], "max_s": v[v.len() - 1], "runs": v.len()})
}

/// Writes a report to `target/bench/<name>.json` and prints it.
pub fn report(name: &str, report: &serde_json::Value) {
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    let text = serde_json::to_string_pretty(report).unwrap();
    std::fs::write(out.join(format!("{name}.json")), &text).unwrap();
    println!("{text}");
}
