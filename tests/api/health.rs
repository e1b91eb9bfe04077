//! Health, readiness, liveness and metrics, including a database that is down.

use crate::helpers::{cluster, free_port, spawn_app, spawn_app_with, AppOptions};

#[tokio::test]
async fn health_reports_database_connected() {
    let app = spawn_app().await;
    let r = app.get("/health").await;
    assert_eq!(r.status, 200);
    let keys: Vec<_> = r
        .json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "status",
            "service",
            "version",
            "timestamp",
            "uptime",
            "checks",
            "responseTime"
        ]
    );
    assert_eq!(r.json["status"], "healthy");
    assert_eq!(r.json["service"], "workspace-api");
    assert_eq!(r.json["checks"]["database"]["status"], "healthy");
    assert_eq!(
        r.json["checks"]["database"]["message"],
        "postgresql connected"
    );
    assert!(r.json["uptime"].is_f64());
}

#[tokio::test]
async fn ready_counts_items_and_checks_the_schema() {
    let app = spawn_app().await;
    app.create_item("x").await;
    let r = app.get("/ready").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["checks"]["database"]["message"],
        "postgresql ready (1 items)"
    );
    assert_eq!(r.json["checks"]["schema"]["status"], "healthy");
}

#[tokio::test]
async fn database_down_gives_503_with_reason_while_liveness_answers() {
    // Nothing listens on this port: the API must still start and explain itself.
    let port = free_port();
    let app = spawn_app_with(AppOptions {
        database_url: Some(format!("postgres://postgres:x@127.0.0.1:{port}/workspace")),
        ..Default::default()
    })
    .await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["status"], "healthy");
    let r = app.get("/health").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json["status"], "unhealthy");
    assert_eq!(r.json["checks"]["database"]["status"], "unhealthy");
    let reason = r.json["checks"]["database"]["message"].as_str().unwrap();
    assert!(
        reason.to_lowercase().contains("connect") || reason.contains("refused"),
        "{reason}"
    );
    assert_eq!(app.get("/ready").await.status, 503);
    let r = app.get("/api/items").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json["error"], "ServiceUnavailable");
    assert!(r.headers.get("retry-after").is_some());
}

#[tokio::test]
async fn reconnects_after_connections_are_killed() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health").await.status, 200);
    // Kill every session the API holds, as a database restart would.
    let admin = workspace_stack::db::connect(&cluster().config("postgres"))
        .await
        .unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'workspace-api'",
            &[&app.dbname],
        )
        .await
        .unwrap();
    // The first request after may see the dead connection; within a few tries it is healthy.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let s = app.get("/api/items").await.status;
        statuses.push(s);
        if s == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern() {
    let app = spawn_app().await;
    let id = app.create_item("x").await;
    app.get(&format!("/api/items/{id}")).await;
    app.get("/items/abc").await;
    app.get("/no/such/route").await;
    let r = app.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = &r.text;
    assert!(
        text.contains(r#"workspace_api_requests_total{method="POST",route="/",status="201"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"workspace_api_requests_total{method="GET",route="/:id",status="200"} 1"#)
    );
    assert!(
        text.contains(r#"workspace_api_requests_total{method="GET",route="/:id",status="404"} 1"#)
    );
    assert!(text.contains(
        r#"workspace_api_requests_total{method="GET",route="unmatched",status="404"} 1"#
    ));
    assert!(text
        .contains("workspace_api_request_duration_seconds_bucket{method=\"GET\",route=\"/:id\""));
    assert!(text.contains("workspace_api_process_resident_memory_bytes"));
    assert!(text.contains("workspace_api_db_pool_connections{state=\"max\"} 8"));
}
