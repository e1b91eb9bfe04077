//! Categories: listing, the dashboard's parameters, CRUD with validation, conflicts, toggle.

use serde_json::json;

use crate::helpers::{spawn_app, TestApp};

async fn patch(app: &TestApp, path: &str) -> crate::helpers::Reply {
    app.send(app.http.patch(app.url(path))).await
}

#[tokio::test]
async fn list_has_the_six_seeded_categories_in_order() {
    let app = spawn_app().await;
    let r = app.get("/api/categories").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["success"], true);
    assert_eq!(r.json["cached"], true);
    assert_eq!(r.json["count"], 6);
    let names: Vec<_> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "documentacao",
            "coleta-dados",
            "banco-dados",
            "analise-dados",
            "gestao-riscos",
            "dashboard"
        ]
    );
    let first = &r.json["data"][0];
    assert_eq!(first["id"], "documentacao");
    assert_eq!(first["display_name"], "Documentação");
    assert_eq!(first["display_order"], 1);
    assert_eq!(first["is_active"], true);
    assert_eq!(first["color"], "#6B7280");
    assert_eq!(
        first["description"], "Documentação",
        "falls back to display_name"
    );
    assert!(first["created_by"].is_null() && first["icon"].is_null());
    assert_eq!(app.get("/categories").await.json["count"], 6);
}

#[tokio::test]
async fn inactive_categories_show_only_when_asked() {
    let app = spawn_app().await;
    let r = patch(&app, "/api/categories/dashboard/toggle").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["data"]["is_active"], false);
    assert_eq!(app.get("/api/categories").await.json["count"], 5);
    let r = app
        .get("/api/categories?active_only=false&order_by=display_order")
        .await;
    assert_eq!(r.json["count"], 6);
    // A single inactive category can still be read.
    assert_eq!(
        app.get("/api/categories/dashboard").await.json["data"]["is_active"],
        false
    );
    assert_eq!(
        app.post("/api/categories/validate", &json!({"name": "dashboard"}))
            .await
            .json["valid"],
        false
    );
    patch(&app, "/api/categories/dashboard/toggle").await;
    assert_eq!(
        app.post("/api/categories/validate", &json!({"name": "dashboard"}))
            .await
            .json["valid"],
        true
    );
    assert_eq!(
        app.post("/api/categories/validate", &json!({})).await.json,
        json!({"success": true, "valid": false})
    );
    assert_eq!(
        patch(&app, "/api/categories/missing/toggle").await.status,
        404
    );
}

#[tokio::test]
async fn create_validates_and_keeps_what_the_dashboard_sends() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/api/categories",
            &json!({"name": "research", "display_name": "Research", "color": "#112233", "display_order": 0, "icon": "flask"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["message"], "Category created successfully");
    let c = &r.json["data"];
    assert_eq!(
        (
            c["display_order"].as_i64(),
            c["color"].as_str(),
            c["icon"].as_str()
        ),
        (Some(0), Some("#112233"), Some("flask"))
    );
    // Now usable by items.
    let item = json!({"title": "t", "description": "d", "category": "research", "priority": "low"});
    assert_eq!(app.post("/api/items", &item).await.status, 201);

    let r = app
        .post("/api/categories", &json!({"name": "research"}))
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.json,
        json!({"success": false, "message": "Category 'research' already exists"})
    );

    for (body, field) in [
        (json!({"name": "Bad Name!"}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": 5}), "name"),
        (
            json!({"name": "ok", "display_name": "d".repeat(201)}),
            "display_name",
        ),
        (
            json!({"name": "ok", "description": "d".repeat(2001)}),
            "description",
        ),
        (json!({"name": "ok", "display_order": -1}), "display_order"),
        (json!({"name": "ok", "display_order": 1.5}), "display_order"),
        (json!({"name": "ok", "color": "blue"}), "color"),
    ] {
        let r = app.post("/api/categories", &body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.json["message"], "Validation failed");
        assert_eq!(r.json["errors"][0]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn update_uses_partial_semantics_and_the_dashboard_alias() {
    let app = spawn_app().await;
    let r = app
        .put(
            "/api/categories/dashboard",
            &json!({"name": "ignored", "display_name": "Painel", "display_order": 42, "color": "#ABCDEF"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["message"], "Category updated successfully");
    let c = &r.json["data"];
    assert_eq!(
        (
            c["name"].as_str(),
            c["display_name"].as_str(),
            c["display_order"].as_i64()
        ),
        (Some("dashboard"), Some("Painel"), Some(42))
    );
    assert_eq!(c["color"], "#ABCDEF");
    let r = app
        .put("/api/categories/dashboard", &json!({"description": "x"}))
        .await;
    assert_eq!(
        r.json["data"]["display_name"], "Painel",
        "absent fields are kept"
    );
    let r = app
        .put("/api/categories/dashboard", &json!({"color": null}))
        .await;
    assert_eq!(
        r.json["data"]["color"], "#6B7280",
        "null clears back to the default"
    );
    assert_eq!(
        app.put("/api/categories/nope", &json!({"display_name": "x"}))
            .await
            .status,
        404
    );
    assert_eq!(
        app.put("/api/categories/dashboard", &json!({"is_active": "no"}))
            .await
            .status,
        400
    );
    assert_eq!(
        app.put("/api/categories/dashboard", &json!({"display_name": ""}))
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn delete_refuses_categories_in_use() {
    let app = spawn_app().await;
    app.create_item("uses documentacao").await;
    let r = app.delete("/api/categories/documentacao").await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.json["message"],
        "Cannot delete category 'documentacao' - 1 items are using it"
    );
    let r = app.delete("/api/categories/dashboard").await;
    assert_eq!(
        r.json,
        json!({"success": true, "message": "Category deleted successfully"})
    );
    assert_eq!(app.delete("/api/categories/dashboard").await.status, 404);
    assert_eq!(app.get("/api/categories").await.json["count"], 5);
}

#[tokio::test]
async fn stats_and_cache_routes_answer() {
    let app = spawn_app().await;
    patch(&app, "/api/categories/dashboard/toggle").await;
    let r = app.get("/api/categories/stats").await;
    assert_eq!(
        r.json["data"],
        json!({"total": 6, "active": 5, "inactive": 1})
    );
    let r = app
        .post("/api/categories/invalidate-cache", &json!({}))
        .await;
    assert_eq!(
        r.json,
        json!({"success": true, "message": "Categories cache invalidated"})
    );
    let r = app.get("/api/categories/Not%20A%20Name").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json["message"], "Category 'Not A Name' not found");
}

/// The original's own answers: `!req.body.name` is its exact 400, and a category created
/// without a description stores (and answers) `description: null`.
#[tokio::test]
async fn create_without_a_name_and_without_a_description_answers_as_the_original() {
    let app = spawn_app().await;
    for body in [
        json!({}),
        json!({"name": null}),
        json!({"name": ""}),
        json!({"name": false}),
        json!({"name": 0}),
        json!({"display_name": "No name"}),
    ] {
        let r = app.post("/api/categories", &body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(
            r.json,
            json!({"success": false, "message": "Category name is required"}),
            "{body}"
        );
    }
    let r = app.post("/api/categories", &json!({"name": "x"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["data"]["description"], serde_json::Value::Null);
    assert_eq!(r.json["data"]["display_name"], "x");
    let stored: Option<String> = app
        .db
        .query_one(
            "SELECT description FROM workspace.workspace_categories WHERE name = 'x'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, None);
    // Toggling and updating answer with the row as stored too.
    let r = app
        .send(app.http.patch(app.url("/api/categories/x/toggle")))
        .await;
    assert_eq!(r.json["data"]["description"], serde_json::Value::Null);
    let r = app
        .put("/api/categories/x", &json!({"display_order": 5}))
        .await;
    assert_eq!(r.json["data"]["description"], serde_json::Value::Null);
}
