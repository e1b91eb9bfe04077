//! Items beyond the original suite: both mounts, representation, paging, filters, search,
//! metadata, stats, ids that cannot exist, and parallel creates.

use serde_json::json;

use crate::helpers::{spawn_app, valid_item};

#[tokio::test]
async fn item_has_both_key_styles_string_id_and_iso_millis() {
    let app = spawn_app().await;
    let id = app.create_item("x").await;
    let r = app.get(&format!("/api/items/{id}")).await;
    assert_eq!(r.status, 200);
    let item = r.json["data"].as_object().unwrap();
    let keys: Vec<_> = item.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "title",
            "description",
            "category",
            "priority",
            "status",
            "tags",
            "created_at",
            "updated_at",
            "created_by",
            "updated_by",
            "metadata",
            "updatedAt",
            "createdAt",
            "createdBy",
            "updatedBy"
        ]
    );
    assert!(item["id"].is_string());
    let created = item["createdAt"].as_str().unwrap();
    assert_eq!(created.len(), 24, "{created}");
    assert!(
        created.ends_with('Z') && created.as_bytes()[19] == b'.',
        "{created}"
    );
    assert_eq!(item["created_at"], item["createdAt"]);
    assert!(item["created_by"].is_null() && item["updatedBy"].is_null());
}

#[tokio::test]
async fn bare_mount_serves_the_same_routes() {
    let app = spawn_app().await;
    let r = app.post("/items", &valid_item()).await;
    assert_eq!(r.status, 201);
    let id = r.json["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.get(&format!("/items/{id}")).await.json["data"]["id"],
        id.as_str()
    );
    assert_eq!(app.get("/api/items/").await.json["count"], 1);
    assert_eq!(app.get("/items/stats").await.json["data"]["total"], 1);
    assert_eq!(
        app.put(&format!("/items/{id}"), &json!({"status": "review"}))
            .await
            .status,
        200
    );
    assert_eq!(app.delete(&format!("/items/{id}")).await.status, 200);
}

#[tokio::test]
async fn limit_and_offset_page_in_sql_and_total_counts_all() {
    let app = spawn_app().await;
    for i in 0..7 {
        app.create_item(&format!("item {i}")).await;
    }
    let r = app.get("/api/items?limit=3&offset=2").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["count"], 3);
    assert_eq!(r.json["total"], 7);
    assert_eq!(r.json["filters"], json!({"limit": 3, "offset": 2}));
    let titles: Vec<_> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    // Newest first: item 6, 5 are skipped.
    assert_eq!(titles, ["item 4", "item 3", "item 2"]);
    let r = app.get("/api/items?offset=100").await;
    assert_eq!(
        (r.json["count"].as_i64(), r.json["total"].as_i64()),
        (Some(0), Some(7))
    );
}

#[tokio::test]
async fn filters_and_search_combine() {
    let app = spawn_app().await;
    let make = |title: &str, desc: &str, cat: &str, prio: &str, tags: Vec<&str>| json!({"title": title, "description": desc, "category": cat, "priority": prio, "tags": tags});
    for body in [
        make(
            "Alpha report",
            "quarterly",
            "dashboard",
            "high",
            vec!["finance"],
        ),
        make(
            "Beta",
            "mentions ALPHA in text",
            "documentacao",
            "low",
            vec![],
        ),
        make(
            "Gamma",
            "nothing",
            "dashboard",
            "high",
            vec!["alphabet-soup"],
        ),
        make("Delta", "100% done_ok", "dashboard", "low", vec![]),
    ] {
        assert_eq!(app.post("/api/items", &body).await.status, 201);
    }
    let titles = |r: &crate::helpers::Reply| -> Vec<String> {
        let mut t: Vec<String> = r.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["title"].as_str().unwrap().to_string())
            .collect();
        t.sort();
        t
    };
    let r = app.get("/api/items?search=alpha").await;
    assert_eq!(titles(&r), ["Alpha report", "Beta", "Gamma"]);
    let r = app
        .get("/api/items?search=alpha&category=dashboard&priority=high")
        .await;
    assert_eq!(titles(&r), ["Alpha report", "Gamma"]);
    assert_eq!(
        r.json["filters"],
        json!({"category": "dashboard", "priority": "high", "search": "alpha", "limit": 100, "offset": 0})
    );
    // LIKE metacharacters are literal.
    assert_eq!(
        titles(&app.get("/api/items?search=100%25").await),
        ["Delta"]
    );
    assert_eq!(titles(&app.get("/api/items?search=_ok").await), ["Delta"]);
    assert_eq!(titles(&app.get("/api/items?search=%25").await), ["Delta"]);
    assert!(titles(&app.get("/api/items?search=e_a").await).is_empty());
    assert_eq!(titles(&app.get("/api/items?status=new").await).len(), 4);
}

#[tokio::test]
async fn metadata_objects_are_stored_and_returned() {
    let app = spawn_app().await;
    let mut body = valid_item();
    body["metadata"] =
        json!({"source": "import", "nested": {"n": [1, 2.5, null, true]}, "emoji": "🚀"});
    let r = app.post("/api/items", &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["data"]["metadata"], body["metadata"]);
    let id = r.json["data"]["id"].as_str().unwrap().to_string();
    let r = app
        .put(
            &format!("/api/items/{id}"),
            &json!({"metadata": {"k": "v"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        app.get(&format!("/api/items/{id}")).await.json["data"]["metadata"],
        json!({"k": "v"})
    );
    let r = app.post("/api/items", &json!({"metadata": [1], "title": "t", "description": "d", "category": "dashboard", "priority": "low"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json["errors"][0]["field"], "metadata");
}

#[tokio::test]
async fn invalid_ids_are_404_on_every_method() {
    let app = spawn_app().await;
    for id in [
        "abc",
        "0",
        "-1",
        "1.5",
        "99999999999999999999",
        "%20",
        "1%27%20OR%201=1",
    ] {
        for r in [
            app.get(&format!("/api/items/{id}")).await,
            app.put(&format!("/api/items/{id}"), &json!({"title": "x"}))
                .await,
            app.delete(&format!("/api/items/{id}")).await,
        ] {
            assert_eq!(r.status, 404, "{id}: {}", r.text);
            assert_eq!(r.json["success"], false);
        }
    }
}

#[tokio::test]
async fn stats_are_reachable_and_count_by_dimension() {
    let app = spawn_app().await;
    app.create_item("a").await;
    app.create_item("b").await;
    let id = app.create_item("c").await;
    app.put(
        &format!("/api/items/{id}"),
        &json!({"status": "completed", "category": "dashboard"}),
    )
    .await;
    let r = app.get("/api/items/stats").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["data"],
        json!({
            "total": 3,
            "byCategory": {"dashboard": 1, "documentacao": 2},
            "byStatus": {"completed": 1, "new": 2},
            "byPriority": {"low": 3},
        })
    );
}

#[tokio::test]
async fn unknown_or_inactive_category_is_400_with_the_list() {
    let app = spawn_app().await;
    let mut body = valid_item();
    body["category"] = json!("nope");
    let r = app.post("/api/items", &body).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json["message"],
        "Invalid category 'nope'. Valid categories: documentacao, coleta-dados, banco-dados, analise-dados, gestao-riscos, dashboard"
    );
    assert_eq!(r.json["errors"][0]["code"], "invalid_category");
    app.send(app.http.patch(app.url("/api/categories/dashboard/toggle")))
        .await;
    body["category"] = json!("dashboard");
    assert_eq!(app.post("/api/items", &body).await.status, 400);
    // An update with a bad category is a 400 even for a missing id (original order).
    let r = app
        .put("/api/items/424242", &json!({"category": "nope"}))
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn update_with_empty_body_only_touches_updated_at() {
    let app = spawn_app().await;
    let id = app.create_item("x").await;
    let before = app.get(&format!("/api/items/{id}")).await.json["data"].clone();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let r = app.put(&format!("/api/items/{id}"), &json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["data"]["title"], before["title"]);
    assert_ne!(r.json["data"]["updated_at"], before["updated_at"]);
    let r = app
        .put(
            &format!("/api/items/{id}"),
            &json!({"id": "1", "createdAt": "x"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json["errors"][0]["message"],
        "Unrecognized keys: \"id\", \"createdAt\""
    );
}

#[tokio::test]
async fn parallel_creates_all_land_with_distinct_ids() {
    let app = spawn_app().await;
    let futures = (0..64).map(|i| {
        let mut body = valid_item();
        body["title"] = json!(format!("parallel {i}"));
        let req = app.http.post(app.url("/api/items")).json(&body);
        async move {
            req.send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    });
    let results = futures_util::future::join_all(futures).await;
    let mut ids: Vec<String> = results
        .iter()
        .map(|r| r["data"]["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 64);
    assert_eq!(app.count_items().await, 64);
    assert_eq!(app.get("/api/items?limit=1000").await.json["total"], 64);
}
