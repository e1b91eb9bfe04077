//! The 13 cases of the original service's items suite, over real HTTP and a real database
//! (the original mocked the database; here the database state is checked instead).

use serde_json::json;

use crate::helpers::{spawn_app, valid_item};

#[tokio::test]
async fn c01_list_returns_envelope_with_default_filters() {
    let app = spawn_app().await;
    app.create_item("one").await;
    app.create_item("two").await;
    let r = app.get("/api/items").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["success"], true);
    assert_eq!(r.json["count"], 2);
    assert_eq!(r.json["data"].as_array().unwrap().len(), 2);
    assert_eq!(r.json["filters"], json!({"limit": 100, "offset": 0}));
}

#[tokio::test]
async fn c02_list_with_database_failure_is_an_error_status_not_a_crash() {
    let app = spawn_app().await;
    // Take the table away underneath the running API.
    app.db
        .batch_execute("ALTER TABLE workspace.workspace_items RENAME TO gone")
        .await
        .unwrap();
    let r = app.get("/api/items").await;
    assert!(r.status >= 500, "{}", r.text);
    assert_eq!(r.json["success"], false);
    assert!(
        r.json["message"].as_str().unwrap().contains("wsctl init"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn c03_create_valid_item() {
    let app = spawn_app().await;
    let r = app.post("/api/items", &valid_item()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let keys: Vec<_> = r.json.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["success", "message", "data"]);
    assert_eq!(r.json["message"], "Item created successfully");
    let data = &r.json["data"];
    assert_eq!(data["title"], "Test Item");
    assert_eq!(data["status"], "new");
    assert_eq!(data["tags"], json!(["test", "new"]));
    let row = app
        .db
        .query_one(
            "SELECT title, status, tags FROM workspace.workspace_items WHERE id = $1",
            &[&data["id"].as_str().unwrap().parse::<i32>().unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "Test Item");
    assert_eq!(row.get::<_, String>(1), "new");
    assert_eq!(row.get::<_, Vec<String>>(2), ["test", "new"]);
}

#[tokio::test]
async fn c04_create_without_title() {
    let app = spawn_app().await;
    let mut body = valid_item();
    body.as_object_mut().unwrap().remove("title");
    let r = app.post("/api/items", &body).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json["success"], false);
    let e = &r.json["errors"][0];
    assert_eq!(e["field"], "title");
    assert!(e["message"].as_str().unwrap().contains("Invalid input"));
    assert_eq!(app.count_items().await, 0);
}

#[tokio::test]
async fn c05_create_with_invalid_priority() {
    let app = spawn_app().await;
    let mut body = valid_item();
    body["priority"] = json!("invalid");
    let r = app.post("/api/items", &body).await;
    assert_eq!(r.status, 400);
    assert!(r.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["field"] == "priority"));
}

#[tokio::test]
async fn c06_create_with_category_failing_the_pattern() {
    let app = spawn_app().await;
    let mut body = valid_item();
    body["category"] = json!("InvalidCategory");
    let r = app.post("/api/items", &body).await;
    assert_eq!(r.status, 400);
    assert!(r.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["field"] == "category"));
    assert_eq!(app.count_items().await, 0);
}

#[tokio::test]
async fn c07_create_without_tags_stores_empty_array() {
    let app = spawn_app().await;
    let mut body = valid_item();
    body.as_object_mut().unwrap().remove("tags");
    let r = app.post("/api/items", &body).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json["data"]["tags"], json!([]));
}

#[tokio::test]
async fn c08_update_existing_item() {
    let app = spawn_app().await;
    let id = app.create_item("before").await;
    let r = app
        .put(
            &format!("/api/items/{id}"),
            &json!({"title": "Updated", "priority": "critical", "status": "in-progress"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["message"], "Item updated successfully");
    assert_eq!(r.json["data"]["title"], "Updated");
    assert_eq!(r.json["data"]["priority"], "critical");
    assert_eq!(r.json["data"]["status"], "in-progress");
    assert_eq!(r.json["data"]["description"], "d", "untouched fields stay");
}

#[tokio::test]
async fn c09_update_missing_item() {
    let app = spawn_app().await;
    let r = app
        .put("/api/items/nonexistent", &json!({"title": "x"}))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json,
        json!({"success": false, "message": "Item with id nonexistent not found"})
    );
    let r = app.put("/api/items/999999", &json!({"title": "x"})).await;
    assert_eq!(
        r.json,
        json!({"success": false, "message": "Item with id 999999 not found"})
    );
}

#[tokio::test]
async fn c10_update_with_invalid_status() {
    let app = spawn_app().await;
    let id = app.create_item("x").await;
    let r = app
        .put(
            &format!("/api/items/{id}"),
            &json!({"status": "invalid-status"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json["errors"][0]["field"], "status");
    let status: String = app
        .db
        .query_one("SELECT status FROM workspace.workspace_items", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "new");
}

#[tokio::test]
async fn c11_delete_existing_item() {
    let app = spawn_app().await;
    let id = app.create_item("x").await;
    let r = app.delete(&format!("/api/items/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json,
        json!({"success": true, "message": "Item deleted successfully"})
    );
    assert_eq!(app.count_items().await, 0);
}

#[tokio::test]
async fn c12_delete_missing_item() {
    let app = spawn_app().await;
    let r = app.delete("/api/items/nonexistent").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json,
        json!({"success": false, "message": "Item with id nonexistent not found"})
    );
}

#[tokio::test]
async fn c13_delete_without_id_is_route_not_found() {
    let app = spawn_app().await;
    app.create_item("keep").await;
    let r = app.delete("/api/items/").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json["message"], "Cannot DELETE /api/items/");
    assert_eq!(app.count_items().await, 1);
}
