//! What a web page, or a client behind the proxy, can make the API do. Each test performs the
//! attack over real HTTP: a rebound DNS name, a form posted from another website, CORS `*`
//! with credentials, a spoofed X-Forwarded-For, and a stalled upload.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{spawn_app, spawn_app_with, valid_item, AppOptions, TestApp};

fn port(app: &TestApp) -> &str {
    app.address.rsplit(':').next().unwrap()
}

async fn category_exists(app: &TestApp, name: &str) -> bool {
    app.db
        .query_opt(
            "SELECT 1 FROM workspace.workspace_categories WHERE name = $1",
            &[&name],
        )
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn a_rebound_dns_name_is_refused_and_loopback_names_are_served() {
    let app = spawn_app().await;
    let evil = format!("rebind.attacker.example:{}", port(&app));
    // What a page on rebind.attacker.example sends once its name resolves to 127.0.0.1.
    for path in ["/api/items", "/health", "/metrics"] {
        let r = app
            .send(app.http.get(app.url(path)).header("host", &evil))
            .await;
        assert_eq!(r.status, 403, "{path}: {}", r.text);
        assert_eq!(r.json["success"], false, "{path}");
        assert!(
            r.json["message"]
                .as_str()
                .unwrap()
                .contains("ALLOWED_HOSTS"),
            "{}",
            r.text
        );
    }
    let r = app
        .send(
            app.http
                .post(app.url("/api/items"))
                .header("host", &evil)
                .header("origin", format!("http://{evil}"))
                .json(&valid_item()),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(app.count_items().await, 0);
    for host in ["localhost", "127.0.0.1", "[::1]"] {
        let r = app
            .send(
                app.http
                    .get(app.url("/api/items"))
                    .header("host", format!("{host}:{}", port(&app))),
            )
            .await;
        assert_eq!(r.status, 200, "{host}: {}", r.text);
    }
}

#[tokio::test]
async fn a_gateways_public_name_is_served_when_configured() {
    let app = spawn_app_with(AppOptions {
        allowed_hosts: Some("workspace.example.com, .corp.example".into()),
        ..Default::default()
    })
    .await;
    for (host, status) in [
        ("workspace.example.com", 200),
        ("api.corp.example:443", 200),
        ("workspace.example.com.attacker.example", 403),
    ] {
        let r = app
            .send(app.http.get(app.url("/api/items")).header("host", host))
            .await;
        assert_eq!(r.status, status, "{host}: {}", r.text);
    }
}

#[tokio::test]
async fn a_form_on_another_website_cannot_write() {
    let app = spawn_app().await;
    let evil = "https://evil.example";
    let form =
        |path: &str, body: &'static str, content_type: Option<&str>, origin: Option<&str>| {
            let mut req = app.http.post(app.url(path)).body(body);
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            if let Some(o) = origin {
                req = req.header("origin", o);
            }
            app.send(req)
        };
    let item_form = "title=pwned&description=x&category=documentacao&priority=low";
    let item_json =
        r#"{"title":"pwned","description":"x","category":"documentacao","priority":"low"}"#;
    let form_type = "application/x-www-form-urlencoded";
    // <form method=post action=…/api/items> on evil.example, submitted by a visitor: no preflight.
    let attempts = [
        form("/api/items", item_form, Some(form_type), Some(evil)),
        form(
            "/api/categories",
            "name=pwned&display_name=x",
            Some(form_type),
            Some(evil),
        ),
        form(
            "/api/items",
            item_form,
            Some("multipart/form-data; boundary=x"),
            Some(evil),
        ),
        // <form enctype=text/plain> or fetch(no-cors) with a string body carrying JSON.
        form("/api/items", item_json, Some("text/plain"), Some(evil)),
        // fetch(no-cors) with a Blob body: no Content-Type at all.
        form("/api/items", item_json, None, Some(evil)),
        // JSON from evil.example (a browser would preflight it; refused either way).
        form(
            "/api/items",
            item_json,
            Some("application/json"),
            Some(evil),
        ),
        form(
            "/api/items",
            item_json,
            Some("application/json"),
            Some("null"),
        ),
        // The form encoding is refused even when a privacy tool strips Origin.
        form("/api/items", item_form, Some(form_type), None),
    ];
    for (i, attempt) in futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .enumerate()
    {
        assert!(
            (400..500).contains(&attempt.status),
            "attempt {i}: {} {}",
            attempt.status,
            attempt.text
        );
        assert_eq!(
            attempt.json["success"], false,
            "attempt {i}: {}",
            attempt.text
        );
        assert!(attempt.json["message"].is_string(), "attempt {i}");
    }
    let id = app.create_item("kept").await;
    let r = app
        .send(
            app.http
                .delete(app.url(&format!("/api/items/{id}")))
                .header("origin", evil),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(
        app.count_items().await,
        1,
        "nothing written, nothing deleted"
    );
    assert!(!category_exists(&app, "pwned").await);

    // The clients keep working: JSON from a listed origin (the dashboard), from the API's own
    // origin, from tools that send no Origin; a DELETE without a body.
    let own = app.address.clone();
    for origin in [Some("http://localhost:3400"), Some(own.as_str()), None] {
        let r = form(
            "/api/items",
            item_json,
            Some("application/json; charset=utf-8"),
            origin,
        )
        .await;
        assert_eq!(r.status, 201, "{origin:?}: {}", r.text);
    }
    let r = app
        .send(
            app.http
                .delete(app.url(&format!("/api/items/{id}")))
                .header("origin", "http://localhost:3400"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn cors_for_any_origin_never_allows_credentials() {
    let app = spawn_app_with(AppOptions {
        cors_origin: Some("*".into()),
        ..Default::default()
    })
    .await;
    // A page on evil.example reading the API with the visitor's cookies.
    let r = app
        .send(
            app.http
                .get(app.url("/api/items"))
                .header("origin", "https://evil.example")
                .header("cookie", "session=victim"),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-credentials"), None);
    let r = app
        .send(
            app.http
                .request(reqwest::Method::OPTIONS, app.url("/api/items"))
                .header("origin", "https://evil.example")
                .header("access-control-request-method", "GET"),
        )
        .await;
    assert!(r.status == 200 || r.status == 204, "{}", r.status);
    assert_eq!(r.header("access-control-allow-credentials"), None);
    assert_ne!(
        r.header("access-control-allow-origin"),
        Some("https://evil.example")
    );
}

#[tokio::test]
async fn a_client_behind_the_proxy_cannot_pick_its_rate_limit_bucket() {
    let app = spawn_app_with(AppOptions {
        rate_limit_max: 3,
        trust_proxy: true,
        ..Default::default()
    })
    .await;
    let get = |xff: String| {
        app.send(
            app.http
                .get(app.url("/api/items"))
                .header("x-forwarded-for", xff),
        )
    };
    // The client writes a new leftmost address each time; the proxy appends the one it saw.
    let mut statuses = Vec::new();
    for i in 0..8 {
        statuses.push(get(format!("10.9.9.{i}, 203.0.113.7")).await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429, 429, 429]);
    // Another client behind the same proxy has its own bucket.
    assert_eq!(get("10.9.9.1, 198.51.100.2".into()).await.status, 200);
}

#[tokio::test]
async fn the_hop_count_picks_the_entry_the_first_trusted_proxy_appended() {
    let app = spawn_app_with(AppOptions {
        rate_limit_max: 1,
        trust_proxy_hops: Some(2),
        ..Default::default()
    })
    .await;
    let get = |xff: &'static str| {
        app.send(
            app.http
                .get(app.url("/api/items"))
                .header("x-forwarded-for", xff),
        )
    };
    assert_eq!(get("1.1.1.1, 203.0.113.7, 10.0.0.2").await.status, 200);
    assert_eq!(get("2.2.2.2, 203.0.113.7, 10.0.0.2").await.status, 429);
    assert_eq!(get("2.2.2.2, 198.51.100.2, 10.0.0.2").await.status, 200);
}

#[tokio::test]
async fn a_stalled_upload_is_cut_off() {
    let app = spawn_app().await;
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /api/items HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
         Content-Length: 900000\r\n\r\n{{\"title\": \"",
        port(&app)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b'x'; 400_000]).await.unwrap();
    // …and nothing more. The default deadline for a body is 10 s.
    let started = Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(25), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        read.is_ok(),
        "no answer after 25 s: the upload is held open"
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"RequestTimeoutError\""), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(app.count_items().await, 0);
}
