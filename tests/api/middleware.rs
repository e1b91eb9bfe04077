//! Cross-cutting behaviour: CORS, rate limit, security headers, correlation ids, gzip, and the
//! JSON answers for unknown routes, malformed and oversized bodies.

use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, AppOptions};

#[tokio::test]
async fn cors_allows_listed_origins_and_serves_others_without_headers() {
    let app = spawn_app_with(AppOptions {
        cors_origin: Some("http://localhost:9080,http://localhost:3400".into()),
        ..Default::default()
    })
    .await;
    let r = app
        .send(
            app.http
                .get(app.url("/api/items"))
                .header("origin", "http://localhost:3400"),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:3400")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert!(r
        .header("vary")
        .unwrap_or("")
        .to_lowercase()
        .contains("origin"));
    let r = app
        .send(
            app.http
                .get(app.url("/api/items"))
                .header("origin", "http://evil.example"),
        )
        .await;
    assert_eq!(r.status, 200, "served, as before");
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = app
        .send(
            app.http
                .request(reqwest::Method::OPTIONS, app.url("/api/items"))
                .header("origin", "http://localhost:9080")
                .header("access-control-request-method", "PUT")
                .header(
                    "access-control-request-headers",
                    "content-type,x-correlation-id",
                ),
        )
        .await;
    assert!(r.status == 200 || r.status == 204, "{}", r.status);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:9080")
    );
    let methods = r.header("access-control-allow-methods").unwrap();
    for m in ["GET", "PUT", "PATCH", "POST", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
}

#[tokio::test]
async fn rate_limit_sends_headers_then_429_and_exempts_probes() {
    let app = spawn_app_with(AppOptions {
        rate_limit_max: 3,
        rate_limit_window_ms: 60_000,
        ..Default::default()
    })
    .await;
    let first = app.get("/api/categories").await;
    assert_eq!(first.header("ratelimit-policy"), Some("3;w=60"));
    assert_eq!(first.header("ratelimit-limit"), Some("3"));
    assert_eq!(first.header("ratelimit-remaining"), Some("2"));
    app.get("/api/categories").await;
    app.get("/api/categories").await;
    let r = app.get("/api/categories").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json["error"], "Too Many Requests");
    assert_eq!(
        r.json["message"],
        "Too many requests from this IP, please try again later."
    );
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    assert_eq!(r.json["retryAfter"], retry.to_string());
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));
    assert!(
        r.header("x-content-type-options").is_some(),
        "security headers on 429 too"
    );
    // Probes are not limited.
    assert_eq!(app.get("/health").await.status, 200);
    assert_eq!(app.get("/metrics").await.status, 200);
}

#[tokio::test]
async fn trusted_proxy_limits_each_forwarded_client_separately() {
    let app = spawn_app_with(AppOptions {
        rate_limit_max: 1,
        trust_proxy: true,
        ..Default::default()
    })
    .await;
    let get = |ip: &'static str| {
        app.send(
            app.http
                .get(app.url("/api/items"))
                .header("x-forwarded-for", ip),
        )
    };
    assert_eq!(get("10.0.0.1").await.status, 200);
    assert_eq!(get("10.0.0.1").await.status, 429);
    assert_eq!(get("10.0.0.2").await.status, 200);
}

#[tokio::test]
async fn untrusted_forwarded_header_is_ignored() {
    let app = spawn_app_with(AppOptions {
        rate_limit_max: 1,
        ..Default::default()
    })
    .await;
    let get = |ip: &'static str| {
        app.send(
            app.http
                .get(app.url("/api/items"))
                .header("x-forwarded-for", ip),
        )
    };
    assert_eq!(get("10.0.0.1").await.status, 200);
    assert_eq!(
        get("10.0.0.2").await.status,
        429,
        "a spoofed header must not buy a new bucket"
    );
}

#[tokio::test]
async fn security_headers_are_set() {
    let app = spawn_app().await;
    let r = app.get("/api/items").await;
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "SAMEORIGIN"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("origin-agent-cluster", "?1"),
        ("x-dns-prefetch-control", "off"),
        ("x-download-options", "noopen"),
        ("x-permitted-cross-domain-policies", "none"),
        ("x-xss-protection", "0"),
        (
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        ),
    ] {
        assert_eq!(r.header(name), Some(value), "{name}");
    }
    assert!(r
        .header("content-security-policy")
        .unwrap()
        .starts_with("default-src 'self';"));
    assert!(r.header("x-powered-by").is_none());
}

#[tokio::test]
async fn correlation_id_is_echoed_generated_or_replaced() {
    let app = spawn_app().await;
    let r = app
        .send(
            app.http
                .get(app.url("/healthz"))
                .header("x-correlation-id", "abc-123"),
        )
        .await;
    assert_eq!(r.header("x-correlation-id"), Some("abc-123"));
    let r = app.get("/no-route").await;
    let generated = r.header("x-correlation-id").unwrap();
    let (ms, suffix) = generated.split_once('-').unwrap();
    assert!(
        ms.parse::<u64>().is_ok() && suffix.len() == 9,
        "{generated}"
    );
    let hostile = "a\tb".to_string() + &"x".repeat(300);
    let r = app
        .send(
            app.http
                .get(app.url("/healthz"))
                .header("x-correlation-id", hostile.replace('\t', " ")),
        )
        .await;
    assert_ne!(r.header("x-correlation-id").unwrap().len(), 304);
}

#[tokio::test]
async fn large_responses_are_gzipped_unless_opted_out() {
    let app = spawn_app().await;
    for i in 0..20 {
        app.create_item(&format!("item number {i}")).await;
    }
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let r = app
        .send(
            raw.get(app.url("/api/items"))
                .header("accept-encoding", "gzip"),
        )
        .await;
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let r = app
        .send(
            raw.get(app.url("/api/items"))
                .header("accept-encoding", "gzip")
                .header("x-no-compression", "1"),
        )
        .await;
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.json["count"], 20);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_404() {
    let app = spawn_app().await;
    let r = app.get("/api/health?x=1").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json,
        json!({"success": false, "error": "NotFound", "message": "Cannot GET /api/health?x=1"})
    );
    let r = app.send(app.http.patch(app.url("/api/items"))).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json["message"], "Cannot PATCH /api/items");
    let r = app.send(app.http.post(app.url("/health"))).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn malformed_and_oversized_bodies_are_json_4xx() {
    let app = spawn_app().await;
    let r = app
        .raw(
            reqwest::Method::POST,
            "/api/items",
            "application/json",
            b"{\"title\": ".to_vec(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json["error"], "SyntaxError");
    assert!(!r.json["message"].as_str().unwrap().is_empty());
    // 1 MiB since the metadata and tag caps (the original: 10 MB).
    let big = format!("{{\"title\": \"{}\"}}", "x".repeat(1024 * 1024 + 10));
    let r = app
        .raw(
            reqwest::Method::POST,
            "/api/items",
            "application/json",
            big.into_bytes(),
        )
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(
        r.json,
        json!({"success": false, "error": "PayloadTooLargeError", "message": "request entity too large"})
    );
    // Just under the limit is parsed (and then fails validation on length, not size).
    let near = format!("{{\"title\": \"{}\"}}", "x".repeat(1000 * 1024));
    let r = app
        .raw(
            reqwest::Method::PUT,
            "/api/items/1",
            "application/json",
            near.into_bytes(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json["errors"][0]["code"], "too_big");
    let r = app
        .raw(
            reqwest::Method::POST,
            "/api/items",
            "text/xml",
            b"<item/>".to_vec(),
        )
        .await;
    assert_eq!(r.status, 415);
    assert_eq!(app.count_items().await, 0);
}
