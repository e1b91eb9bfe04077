//! The OpenAPI document is complete, and a small schema-driven probe finds no 5xx and no
//! undocumented status on any operation.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

#[tokio::test]
async fn document_lists_every_route_on_both_mounts() {
    let app = spawn_app().await;
    let r = app.get("/openapi.json").await;
    assert_eq!(r.status, 200);
    let paths = r.json["paths"].as_object().unwrap();
    for p in [
        "/api/items",
        "/api/items/{id}",
        "/api/items/stats",
        "/items",
        "/items/{id}",
        "/items/stats",
        "/api/categories",
        "/api/categories/{name}",
        "/api/categories/{name}/toggle",
        "/api/categories/validate",
        "/api/categories/invalidate-cache",
        "/api/categories/stats",
        "/categories/{name}",
        "/health",
        "/ready",
        "/healthz",
        "/metrics",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    let schemas = r.json["components"]["schemas"].as_object().unwrap();
    for s in [
        "ItemView",
        "CreateItemBody",
        "UpdateItemBody",
        "BadRequestResponse",
        "FieldError",
        "HealthResponse",
    ] {
        assert!(schemas.contains_key(s), "missing schema {s}");
    }
    assert_eq!(schemas["UpdateItemBody"]["additionalProperties"], false);
    assert_eq!(
        schemas["CreateItemBody"]["properties"]["title"]["maxLength"],
        200
    );
}

fn sample_for(schema: &Value, doc: &Value, wrong: bool) -> Value {
    let schema = resolve(schema, doc);
    if wrong {
        return match schema["type"].as_str() {
            Some("string") => json!(12345),
            Some("integer") | Some("number") => json!("not a number"),
            Some("boolean") => json!("maybe"),
            Some("array") => json!({"not": "an array"}),
            _ => json!("not an object"),
        };
    }
    if let Some(e) = schema["enum"].as_array() {
        return e[0].clone();
    }
    match schema["type"].as_str() {
        Some("string") => json!("dashboard"),
        Some("integer") | Some("number") => json!(1),
        Some("boolean") => json!(true),
        Some("array") => json!([]),
        _ => json!({}),
    }
}

fn resolve<'a>(schema: &'a Value, doc: &'a Value) -> &'a Value {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap();
        return &doc["components"]["schemas"][name];
    }
    if let Some(one) = schema["oneOf"].as_array() {
        return resolve(&one[0], doc);
    }
    schema
}

#[tokio::test]
async fn every_operation_answers_with_a_documented_status_for_good_and_bad_input() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json").await.json;
    let mut probes = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let documented: Vec<u16> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .filter_map(|k| k.parse().ok())
                .collect();
            let body_schema = &op["requestBody"]["content"]["application/json"]["schema"];
            for variant in ["good", "wrong-types", "missing-id"] {
                let concrete = path
                    .replace(
                        "{id}",
                        if variant == "missing-id" {
                            "999999"
                        } else {
                            "1"
                        },
                    )
                    .replace(
                        "{name}",
                        if variant == "missing-id" {
                            "no-such"
                        } else {
                            "dashboard"
                        },
                    );
                let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let mut req = app.http.request(m, app.url(&concrete));
                if !body_schema.is_null() {
                    let props = resolve(body_schema, &doc)["properties"]
                        .as_object()
                        .cloned()
                        .unwrap_or_default();
                    let body: serde_json::Map<String, Value> = props
                        .iter()
                        .map(|(k, s)| (k.clone(), sample_for(s, &doc, variant == "wrong-types")))
                        .collect();
                    req = req.json(&Value::Object(body));
                }
                let r = app.send(req).await;
                probes += 1;
                assert!(
                    r.status < 500,
                    "{method} {concrete} ({variant}): {} {}",
                    r.status,
                    r.text
                );
                assert!(
                    documented.contains(&r.status) || r.status == 404,
                    "{method} {concrete} ({variant}) answered {} which the document does not list ({documented:?}): {}",
                    r.status,
                    r.text
                );
            }
        }
    }
    assert!(probes > 80, "{probes}");
}

/// Each finding of the schemathesis run, decided by what the original did: the document
/// changed where the original accepted the request too, the server where only we refused.
#[tokio::test]
async fn the_document_says_what_the_server_accepts() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json").await.json;
    assert_operations_are_named_once_and_linked(&doc);
    assert_bodies_and_fields_are_as_the_original_accepted(&doc);
    assert_server_accepts_what_the_document_says(&app).await;
}

/// Every operationId is unique, and links name their target as OpenAPI spells it.
fn assert_operations_are_named_once_and_linked(doc: &Value) {
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default().to_string();
            assert!(
                ids.insert(id.clone()),
                "{method} {path}: operationId {id:?} twice"
            );
        }
    }
    // Links name their target operation as OpenAPI spells it, on the same mount.
    let links = &doc["paths"]["/api/items"]["post"]["responses"]["201"]["links"];
    assert_eq!(links["deleteItem"]["operationId"], "deleteItem");
    assert_eq!(
        links["deleteItem"]["parameters"]["id"],
        "$response.body#/data/id"
    );
    let links = &doc["paths"]["/categories"]["post"]["responses"]["201"]["links"];
    assert_eq!(
        links["deleteCategory"]["operationId"],
        "deleteCategory_bare"
    );
}

/// Request bodies the original accepted missing are optional, optional fields are never
/// null, and one 400 shape covers every refusal.
fn assert_bodies_and_fields_are_as_the_original_accepted(doc: &Value) {
    // Bodies the original accepted missing.
    for (path, method) in [
        ("/api/items/{id}", "put"),
        ("/api/categories/{name}", "put"),
        ("/api/categories/validate", "post"),
    ] {
        assert_ne!(
            doc["paths"][path][method]["requestBody"]["required"], true,
            "{method} {path}"
        );
    }
    let schemas = &doc["components"]["schemas"];
    // Optional item fields may be absent, never null (the original's Zod refused null).
    for body in ["CreateItemBody", "UpdateItemBody"] {
        for field in ["tags", "metadata"] {
            let s = schemas[body]["properties"][field].to_string();
            assert!(!s.contains("null"), "{body}.{field}: {s}");
        }
    }
    // One 400 shape for validation, malformed JSON and the bare "name is required".
    let required = schemas["BadRequestResponse"]["required"]
        .as_array()
        .unwrap();
    assert!(!required.contains(&json!("errors")) && !required.contains(&json!("error")));
}

/// The server behind each finding answers as the document says.
async fn assert_server_accepts_what_the_document_says(app: &TestApp) {
    for (what, r, status) in [
        (
            "display_order 949.0 (an integer to JSON Schema and JavaScript)",
            app.post("/api/categories", &json!({"name": "n949", "display_order": 949.0}))
                .await,
            201,
        ),
        (
            "sort_order 5.0 on update",
            app.put("/api/categories/n949", &json!({"sort_order": 5.0})).await,
            200,
        ),
        (
            "display_order -1 beside a valid sort_order",
            app.put(
                "/api/categories/n949",
                &json!({"sort_order": 1, "display_order": -1}),
            )
            .await,
            400,
        ),
        (
            "PUT without a body",
            app.send(app.http.put(app.url("/api/categories/n949"))).await,
            200,
        ),
        (
            "validate with an array body",
            app.raw(
                reqwest::Method::POST,
                "/api/categories/validate",
                "application/json",
                b"[1]".to_vec(),
            )
            .await,
            200,
        ),
        (
            "validate with a string body (express.json is strict)",
            app.raw(
                reqwest::Method::POST,
                "/api/categories/validate",
                "application/json",
                br#""dashboard""#.to_vec(),
            )
            .await,
            400,
        ),
        ("offset= is 0", app.get("/api/items?offset=").await, 200),
        (
            "active_only=null",
            app.get("/api/categories?active_only=null").await,
            200,
        ),
        (
            "tags: null",
            app.post(
                "/api/items",
                &json!({"title": "t", "description": "d", "category": "dashboard", "priority": "low", "tags": null}),
            )
            .await,
            400,
        ),
    ] {
        assert_eq!(r.status, status, "{what}: {}", r.text);
    }
    let r = app
        .raw(
            reqwest::Method::POST,
            "/api/categories/validate",
            "application/json",
            br#""dashboard""#.to_vec(),
        )
        .await;
    assert_eq!(r.json["error"], "SyntaxError");
}
