//! The OpenAPI document is complete, and a small schema-driven probe finds no 5xx and no
//! undocumented status on any operation.

use serde_json::{json, Value};

use crate::helpers::spawn_app;

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
        "ValidationErrorResponse",
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
