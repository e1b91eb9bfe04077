//! No stored value can crash a request: metadata numbers that PostgreSQL normalises into long
//! numerics (`1.7976931348623157e+308` becomes 309 digits) are served exactly as stored by
//! every route that returns items; and a handler that panics anyway answers 500 JSON.

use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::json;
use workspace_stack::api::catch_panic::catch_panic;

use crate::helpers::{free_port, spawn_app, TestApp};

/// The metadata column as PostgreSQL prints it: what the API must embed, byte for byte.
async fn stored_metadata(app: &TestApp, id: &str) -> String {
    let id: i32 = id.parse().unwrap();
    app.db
        .query_one(
            "SELECT metadata::text FROM workspace.workspace_items WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0)
}

fn assert_serves(what: &str, reply: &crate::helpers::Reply, stored: &str) {
    assert_eq!(reply.status, 200, "{what}: {}", reply.text);
    assert!(
        reply.text.contains(stored),
        "{what}: metadata not returned exactly as stored\nstored: {stored}\nbody: {}",
        reply.text
    );
}

#[tokio::test]
async fn extreme_numbers_in_metadata_are_created_read_listed_updated_and_deleted() {
    let app = spawn_app().await;
    // Sent as text so the numbers reach the server exactly as written here.
    let body = r#"{"title":"extremes","description":"d","category":"documentacao","priority":"low",
        "metadata":{"max":1.7976931348623157e+308,"min":-1.7976931348623157e308,
                    "tiny":5e-324,"nested":{"list":[1e300,0.1,-0.0,123456789012345678]}}}"#;
    let r = app
        .raw(
            reqwest::Method::POST,
            "/api/items",
            "application/json",
            body.into(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // serde_json (without arbitrary_precision) cannot read 309-digit numbers; JavaScript and
    // Python clients can. The id is read from the text.
    let id = r.text
        ["{\"success\":true,\"message\":\"Item created successfully\",\"data\":{\"id\":\"".len()..]
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let stored = stored_metadata(&app, &id).await;
    assert!(
        stored.len() > 600,
        "PostgreSQL kept the long form: {stored}"
    );
    assert!(r.text.contains(&stored), "create: {}", r.text);

    assert_serves("get", &app.get(&format!("/api/items/{id}")).await, &stored);
    assert_serves("list", &app.get("/api/items").await, &stored);
    assert_serves(
        "search",
        &app.get("/api/items?search=extremes").await,
        &stored,
    );
    let r = app
        .put(
            &format!("/api/items/{id}"),
            &json!({"title": "still extreme"}),
        )
        .await;
    assert_serves("update", &r, &stored);

    // An update that writes such numbers again answers with them as well.
    let r = app
        .raw(
            reqwest::Method::PUT,
            &format!("/api/items/{id}"),
            "application/json",
            br#"{"metadata":{"again":1.7976931348623157e308}}"#.to_vec(),
        )
        .await;
    let stored = stored_metadata(&app, &id).await;
    assert_serves("update with metadata", &r, &stored);

    let r = app.delete(&format!("/api/items/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.get(&format!("/api/items/{id}")).await.status, 404);
}

#[tokio::test]
async fn numbers_beyond_a_double_written_by_sql_are_served_as_stored() {
    let app = spawn_app().await;
    let id = app.create_item("written by sql").await;
    // 1e400 fits PostgreSQL's numeric but no double: another client or an import can store it.
    app.db
        .execute(
            "UPDATE workspace.workspace_items
                SET metadata = '{\"big\": 1e400, \"neg\": -1e400, \"frac\": 1e-400}'
              WHERE id = $1",
            &[&id.parse::<i32>().unwrap()],
        )
        .await
        .unwrap();
    let stored = stored_metadata(&app, &id).await;
    assert_serves("get", &app.get(&format!("/api/items/{id}")).await, &stored);
    assert_serves("list", &app.get("/api/items").await, &stored);
    let r = app
        .put(&format!("/api/items/{id}"), &json!({"priority": "high"}))
        .await;
    assert_serves("update", &r, &stored);
    assert_eq!(app.delete(&format!("/api/items/{id}")).await.status, 200);
}

/// The middleware on a real actix server over loopback: a panicking handler answers 500 JSON
/// instead of a dropped connection, and the server keeps serving.
#[tokio::test]
async fn a_panicking_handler_answers_500_json() {
    let port = free_port();
    let server = HttpServer::new(|| {
        App::new()
            .service(
                web::resource("/boom/{n}")
                    .route(web::get().to(|path: web::Path<String>| async move {
                        // What the handlers used to do with a stored number.
                        let n: u8 = path.parse().unwrap();
                        HttpResponse::Ok().body(n.to_string())
                    }))
                    .wrap(from_fn(catch_panic)),
            )
            .service(
                web::resource("/fine")
                    .route(web::get().to(|| async { HttpResponse::Ok().body("ok") }))
                    .wrap(from_fn(catch_panic)),
            )
    })
    .workers(1)
    .bind(("127.0.0.1", port))
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..2 {
        let r = http
            .get(format!("{base}/boom/1e400"))
            .send()
            .await
            .expect("an answer");
        assert_eq!(r.status(), 500);
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "application/json"
        );
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            body,
            json!({"success": false, "error": "InternalServerError", "message": "Internal server error"})
        );
        let r = http.get(format!("{base}/boom/7")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "7");
        let r = http.get(format!("{base}/fine")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "ok");
    }
    handle.stop(false).await;
}
