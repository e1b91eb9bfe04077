//! `/health`, `/ready`, `/healthz` and `/metrics`, with the original's JSON shapes.

use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use crate::api::metrics::Metrics;
use crate::api::state::AppState;
use crate::db::migrations::{self, SchemaState};

const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
const SERVICE: &str = "workspace-api";

fn check(ok: bool, message: String, started: Instant) -> Value {
    json!({
        "status": if ok { "healthy" } else { "unhealthy" },
        "message": message,
        "responseTime": started.elapsed().as_millis() as u64,
    })
}

fn report(state: &AppState, checks: Value, started: Instant) -> HttpResponse {
    let healthy = checks
        .as_object()
        .is_some_and(|c| c.values().all(|v| v["status"] == "healthy"));
    let body = json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "service": SERVICE,
        "version": env!("CARGO_PKG_VERSION"),
        "timestamp": crate::api::view::iso(Some(chrono::Utc::now())),
        "uptime": state.started.elapsed().as_secs_f64(),
        "checks": checks,
        "responseTime": started.elapsed().as_millis() as u64,
    });
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

fn timed_out(started: Instant) -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(json!({
        "status": "unhealthy",
        "service": SERVICE,
        "version": env!("CARGO_PKG_VERSION"),
        "timestamp": crate::api::view::iso(Some(chrono::Utc::now())),
        "error": format!("Health check timeout after {}ms", CHECK_TIMEOUT.as_millis()),
        "responseTime": started.elapsed().as_millis() as u64,
    }))
}

/// Liveness of the database: one round trip, never a table scan.
#[utoipa::path(
    get, path = "/health", tag = "health",
    responses(
        (status = 200, body = crate::api::view::HealthResponse),
        (status = 503, description = "The database is unreachable; checks.database.message says why", body = crate::api::view::HealthResponse),
    )
)]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let started = Instant::now();
    let probe = async {
        let client = state.pool.get().await.map_err(|e| e.to_string())?;
        client
            .query_one("SELECT 1 AS health_check", &[])
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(())
    };
    match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Err(_) => timed_out(started),
        Ok(result) => {
            let database = match result {
                Ok(()) => check(true, "postgresql connected".into(), started),
                Err(e) => check(false, e, started),
            };
            report(&state, json!({"database": database}), started)
        }
    }
}

/// Readiness: the database answers and its schema is at this binary's latest migration.
#[utoipa::path(
    get, path = "/ready", tag = "health",
    responses(
        (status = 200, body = crate::api::view::HealthResponse),
        (status = 503, description = "Database unreachable or schema not migrated", body = crate::api::view::HealthResponse),
    )
)]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let started = Instant::now();
    let probe = async {
        let client = match state.pool.get().await {
            Ok(c) => c,
            Err(e) => return json!({"database": check(false, e.to_string(), started)}),
        };
        let schema = match migrations::state(&client).await {
            Ok(SchemaState::Current) => check(
                true,
                format!("at migration {}", migrations::latest_version()),
                started,
            ),
            Ok(SchemaState::Behind { applied, latest }) => check(
                false,
                format!("at migration {applied}, needs {latest} — run `wsctl init`"),
                started,
            ),
            Ok(SchemaState::Ahead { applied, latest }) => check(
                false,
                format!(
                    "at migration {applied}, {} ({latest})",
                    migrations::NEWER_THAN_API
                ),
                started,
            ),
            Err(e) => check(false, format!("{e:#}"), started),
        };
        let database = match client
            .query_one("SELECT count(*) FROM workspace.workspace_items", &[])
            .await
        {
            Ok(row) => check(
                true,
                format!("postgresql ready ({} items)", row.get::<_, i64>(0)),
                started,
            ),
            Err(e) => check(false, e.to_string(), started),
        };
        json!({"database": database, "schema": schema})
    };
    match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Ok(checks) => report(&state, checks, started),
        Err(_) => timed_out(started),
    }
}

/// Process liveness only: answers while the database is down.
#[utoipa::path(
    get, path = "/healthz", tag = "health",
    responses((status = 200, body = crate::api::view::LivenessResponse))
)]
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "status": "healthy",
        "service": SERVICE,
        "uptime": state.started.elapsed().as_secs_f64(),
    }))
}

/// Prometheus text exposition.
#[utoipa::path(
    get, path = "/metrics", tag = "health",
    responses((status = 200, content_type = "text/plain", body = String))
)]
pub async fn metrics(metrics: web::Data<Metrics>, state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.status();
    let mut text = metrics.render();
    // Pool gauges are read at scrape time rather than tracked on every checkout.
    text.push_str(&format!(
        "# HELP workspace_api_db_pool_connections Database connections by state\n\
         # TYPE workspace_api_db_pool_connections gauge\n\
         workspace_api_db_pool_connections{{state=\"open\"}} {}\n\
         workspace_api_db_pool_connections{{state=\"idle\"}} {}\n\
         workspace_api_db_pool_connections{{state=\"max\"}} {}\n",
        pool.size, pool.available, pool.max_size
    ));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text)
}
