//! Hostile input: every write route gets long strings, unicode, NUL bytes, wrong types, nulls,
//! SQL metacharacters and deep nesting. None may produce a 5xx, and nothing may be half-written.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, valid_item, TestApp};

fn nested(depth: usize) -> Value {
    (0..depth).fold(json!("leaf"), |acc, _| json!({ "k": acc }))
}

fn hostile_values() -> Vec<Value> {
    vec![
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(1e308),
        json!(""),
        json!("   "),
        json!("x".repeat(100_000)),
        json!("nul\u{0}byte"),
        json!("'; DROP TABLE workspace.workspace_items; --"),
        json!("%_\\"),
        json!("😀".repeat(150)),
        json!([]),
        json!(["a", null, 1]),
        json!({}),
        json!({"\u{0}": 1}),
        nested(100),
    ]
}

async fn assert_client_error(app: &TestApp, method: reqwest::Method, path: &str, body: &Value) {
    let r = app
        .send(app.http.request(method.clone(), app.url(path)).json(body))
        .await;
    assert!(
        r.status < 500,
        "{method} {path} {}: {} {}",
        truncate(body),
        r.status,
        r.text
    );
    assert!(r.json.is_object(), "{method} {path}: not JSON: {}", r.text);
}

fn truncate(v: &Value) -> String {
    let s = v.to_string();
    s.chars().take(120).collect()
}

#[tokio::test]
async fn no_field_value_makes_a_write_route_fail_with_5xx() {
    let app = spawn_app().await;
    let id = app.create_item("target").await;
    let item_fields = [
        "title",
        "description",
        "category",
        "priority",
        "status",
        "tags",
        "metadata",
    ];
    let category_fields = [
        "name",
        "display_name",
        "description",
        "display_order",
        "sort_order",
        "is_active",
        "color",
        "icon",
    ];
    for value in hostile_values() {
        for field in item_fields {
            let mut body = valid_item();
            body[field] = value.clone();
            assert_client_error(&app, reqwest::Method::POST, "/api/items", &body).await;
            assert_client_error(
                &app,
                reqwest::Method::PUT,
                &format!("/api/items/{id}"),
                &json!({ field: value }),
            )
            .await;
        }
        for field in category_fields {
            let body = json!({"name": "hostile", field: value});
            assert_client_error(&app, reqwest::Method::POST, "/api/categories", &body).await;
            assert_client_error(
                &app,
                reqwest::Method::PUT,
                "/api/categories/dashboard",
                &json!({ field: value }),
            )
            .await;
        }
        assert_client_error(
            &app,
            reqwest::Method::POST,
            "/api/categories/validate",
            &json!({"name": value}),
        )
        .await;
        // Whole bodies that are not objects.
        assert_client_error(&app, reqwest::Method::POST, "/api/items", &value).await;
        assert_client_error(
            &app,
            reqwest::Method::PUT,
            &format!("/api/items/{id}"),
            &value,
        )
        .await;
    }
    let tables: i64 = app
        .db
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'workspace'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 2);
}

#[tokio::test]
async fn hostile_query_strings_are_4xx_or_answered() {
    let app = spawn_app().await;
    for q in [
        "limit=-5",
        "limit=0",
        "limit=1001",
        "limit=99999999999999999999",
        "limit=abc",
        "limit=1e3",
        "offset=-1",
        "offset=1e400",
        "limit=",
        "status=bogus",
        "priority=",
        "category=UPPER",
        "category=a%00b",
        "search=%00",
        "search=%27%3B%20DROP%20TABLE%20x%3B--",
        "search=%25%25%25",
        "limit=10&limit=20",
        "unknown=1",
        "search=",
        "limit[]=5",
        "offset=2147483648",
    ] {
        let r = app.get(&format!("/api/items?{q}")).await;
        assert!(
            r.status == 200 || r.status == 400,
            "{q}: {} {}",
            r.status,
            r.text
        );
        assert!(r.json.is_object(), "{q}");
    }
    let r = app.get("/api/items?limit=-5").await;
    assert_eq!(r.json["errors"][0]["field"], "limit");
}

#[tokio::test]
async fn unicode_and_sql_metacharacters_round_trip_exactly() {
    let app = spawn_app().await;
    let title = "Ação 🚀 'quoted' \"double\" ; DROP TABLE x; -- \\ % _";
    let body = json!({
        "title": title, "description": "日本語のテキスト\nnew line\ttab",
        "category": "analise-dados", "priority": "medium",
        "tags": ["ünï", "🚀", "'or'1'='1"], "metadata": {"ключ": "значение", "quote": "'"}
    });
    let r = app.post("/api/items", &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["data"]["id"].as_str().unwrap().to_string();
    let got = app.get(&format!("/api/items/{id}")).await.json["data"].clone();
    assert_eq!(got["title"], title);
    assert_eq!(got["description"], body["description"]);
    assert_eq!(got["tags"], body["tags"]);
    assert_eq!(got["metadata"], body["metadata"]);
    assert_eq!(
        app.get("/api/items?search=%F0%9F%9A%80").await.json["count"],
        1
    );
}

#[tokio::test]
async fn limits_are_exact_at_the_boundary() {
    let app = spawn_app().await;
    let mut body = valid_item();
    body["title"] = json!("t".repeat(200));
    body["description"] = json!("d".repeat(2000));
    body["tags"] = json!(["g".repeat(50)]);
    assert_eq!(app.post("/api/items", &body).await.status, 201);
    for (field, value) in [
        ("title", json!("t".repeat(201))),
        ("description", json!("d".repeat(2001))),
        ("tags", json!(["g".repeat(51)])),
        ("tags", json!([""])),
        ("category", json!("c".repeat(101))),
    ] {
        let mut b = body.clone();
        b[field] = value;
        let r = app.post("/api/items", &b).await;
        assert_eq!(r.status, 400, "{field}");
        assert_eq!(r.json["errors"][0]["field"], field);
    }
    assert_eq!(app.count_items().await, 1);
}

#[tokio::test]
async fn deeply_nested_json_is_refused_cleanly() {
    let app = spawn_app().await;
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    let r = app
        .raw(
            reqwest::Method::POST,
            "/api/items",
            "application/json",
            deep.into_bytes(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json["error"], "SyntaxError");
    let mut body = valid_item();
    body["metadata"] = json!({"deep": nested(120)});
    let r = app.post("/api/items", &body).await;
    assert!(r.status == 201 || r.status == 400, "{}", r.text);
}
