//! The real binary: `migrate`, then `serve`, then SIGTERM while a request is in flight.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::helpers::{cluster, create_database, free_port};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_workspace-api")
}

#[tokio::test]
async fn migrate_subcommand_then_serve_then_graceful_sigterm() {
    let name = create_database(false).await;
    let url = cluster().url(&name);
    let out = Command::new(bin())
        .args(["migrate", "--database-url", &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("applied migrations [1, 2, 3]"), "{stdout}");
    assert!(
        !stdout.contains(&cluster().password),
        "the password must not be printed"
    );

    let port = free_port();
    let child = Command::new(bin())
        .args(["serve", "--port", &port.to_string(), "--log-format", "json"])
        .env("DATABASE_URL", &url)
        .env("POSTGRES_STATEMENT_TIMEOUT", "10000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the API did not start");
    // A slow request in flight: a 1 s sleep inside the database via a long search is not
    // possible through the API, so hold a write with a lock taken from the side instead.
    let side = workspace_stack::db::connect(&cluster().config(&name))
        .await
        .unwrap();
    side.batch_execute("BEGIN; LOCK TABLE workspace.workspace_items IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let in_flight = tokio::spawn({
        let http = http.clone();
        let base = base.clone();
        async move {
            http.get(format!("{base}/api/items"))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    tokio::time::sleep(Duration::from_millis(300)).await;
    side.batch_execute("COMMIT").await.unwrap();
    let status = in_flight
        .await
        .unwrap()
        .expect("in-flight request completed");
    assert_eq!(status, 200);
    let exit = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.status.success(), "exit {:?}", exit.status);
    let logs = String::from_utf8_lossy(&exit.stderr);
    let line = logs
        .lines()
        .find(|l| l.contains("\"http_request\""))
        .expect("a request log line");
    let parsed: serde_json::Value = serde_json::from_str(line).unwrap();
    for key in ["method", "url", "status", "duration_ms", "correlation_id"] {
        assert!(!parsed[key].is_null(), "{key} missing in {line}");
    }
    assert!(
        !logs.contains(&cluster().password),
        "the password must not be logged"
    );
}

#[test]
fn busy_port_is_reported_with_the_fix() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = Command::new(bin())
        .args([
            "--port",
            &port.to_string(),
            "--database-url",
            "postgres://u@127.0.0.1:1/x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")) && err.contains("--port"),
        "{err}"
    );
}
