//! How long the web console takes to render each page on a running stack (postgres
//! backend): `cargo bench --bench console_pages`.
//!
//! Starts a stack with its console, adds a branch and two snapshots (so the tree has
//! something to draw), logs in with the printed URL and times `BENCH_RUNS` (default 50)
//! GETs of each page over loopback, full body read. Medians, p95 and max in ms are printed
//! and written to `target/bench/console_pages.json`.

use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

use serde_json::json;

#[allow(dead_code)] // the shared helpers this benchmark does not use
mod common;

fn free_port() -> u16 {
    workspace_stack::stack::ports::free_port().expect("a free loopback port")
}

fn stats(mut ms: Vec<f64>) -> serde_json::Value {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    json!({"median_ms": at(0.5), "p95_ms": at(0.95), "max_ms": at(1.0), "runs": ms.len()})
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runs: usize = common::env_or("BENCH_RUNS", 50);
    let tmp = tempfile::Builder::new()
        .prefix("ws-bench-console-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("state");
    let (pg, api) = (free_port().to_string(), free_port().to_string());
    common::wsctl(&dir, &["up", "--pg-port", &pg, "--api-port", &api]);
    common::wsctl(&dir, &["branch", "create", "feature"]);
    common::wsctl(&dir, &["snapshot", "create", "one"]);
    common::wsctl(&dir, &["snapshot", "create", "two"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wsctl"))
        .arg("--state-dir")
        .arg(&dir)
        .arg("console")
        .output()
        .unwrap();
    let login = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let origin = login.split("/login").next().unwrap().to_string();
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http.get(&login).send().unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let mut report = serde_json::Map::new();
    for page in ["/", "/branches", "/migrations", "/imports", "/logs"] {
        let mut ms = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = Instant::now();
            let r = http
                .get(format!("{origin}{page}"))
                .header("cookie", &cookie)
                .send()
                .unwrap();
            assert_eq!(r.status(), 200, "{page}");
            let body = r.bytes().unwrap();
            ms.push(started.elapsed().as_secs_f64() * 1000.0);
            assert!(body.len() > 500, "{page} is nearly empty");
        }
        report.insert(page.to_string(), stats(ms));
    }
    common::wsctl(&dir, &["down", "--purge", "--yes"]);
    common::report("console_pages", &serde_json::Value::Object(report));
}
