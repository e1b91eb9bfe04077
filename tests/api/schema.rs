//! Migrations and the API's refusal to write on an older schema.

use serde_json::json;
use workspace_stack::db::{self, migrations};

use crate::helpers::{cluster, create_database, spawn_app, spawn_app_with, valid_item, AppOptions};

#[tokio::test]
async fn empty_database_refuses_writes_and_names_the_command_then_works_after_migrate() {
    let app = spawn_app_with(AppOptions {
        migrated: false,
        ..Default::default()
    })
    .await;
    let r = app.post("/api/items", &valid_item()).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.json["error"], "SchemaOutdated");
    assert!(
        r.json["message"].as_str().unwrap().contains("wsctl init"),
        "{}",
        r.text
    );
    let r = app.get("/api/items").await;
    assert_eq!(r.status, 503);
    assert!(r.json["message"].as_str().unwrap().contains("wsctl init"));
    assert_eq!(app.get("/ready").await.status, 503);
    let mut client = db::connect(&cluster().config(&app.dbname)).await.unwrap();
    assert_eq!(
        migrations::migrate(&mut client).await.unwrap(),
        vec![1, 2, 3]
    );
    // No restart needed.
    assert_eq!(app.post("/api/items", &valid_item()).await.status, 201);
    assert_eq!(app.get("/ready").await.status, 200);
}

#[tokio::test]
async fn older_schema_version_refuses_writes_but_serves_reads() {
    let app = spawn_app().await;
    app.create_item("before").await;
    app.db
        .execute(
            "DELETE FROM workspace_stack.schema_migrations WHERE version >= 2",
            &[],
        )
        .await
        .unwrap();
    // A fresh app: the gate is per process and only remembers "current".
    let app2 = spawn_app_with(AppOptions {
        database_url: Some(cluster().url(&app.dbname)),
        ..Default::default()
    })
    .await;
    let r = app2.post("/api/items", &valid_item()).await;
    assert_eq!(r.status, 503);
    assert!(
        r.json["message"].as_str().unwrap().contains(&format!(
            "at migration 1 but this API needs {}",
            workspace_stack::db::migrations::latest_version()
        )),
        "{}",
        r.text
    );
    assert_eq!(app2.get("/api/items").await.json["count"], 1);
}

#[tokio::test]
async fn migrate_is_idempotent_and_refuses_edited_history() {
    let name = create_database(false).await;
    let mut client = db::connect(&cluster().config(&name)).await.unwrap();
    assert_eq!(
        migrations::migrate(&mut client).await.unwrap(),
        vec![1, 2, 3]
    );
    assert!(migrations::migrate(&mut client).await.unwrap().is_empty());
    let status = migrations::status(&client).await.unwrap();
    assert!(status
        .iter()
        .all(|m| m.applied_at.is_some() && m.checksum.len() == 64));
    client
        .execute(
            "UPDATE workspace_stack.schema_migrations SET checksum = 'edited' WHERE version = 1",
            &[],
        )
        .await
        .unwrap();
    let err = migrations::migrate(&mut client)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("migration 1 (workspace_schema) was changed after it was applied"),
        "{err}"
    );
}

#[tokio::test]
async fn concurrent_migrators_apply_each_migration_once() {
    let name = create_database(false).await;
    let runs = (0..4).map(|_| {
        let config = cluster().config(&name);
        tokio::spawn(async move {
            let mut client = db::connect(&config).await.unwrap();
            migrations::migrate(&mut client).await.unwrap()
        })
    });
    let applied: Vec<Vec<i32>> = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        applied.iter().filter(|a| !a.is_empty()).count(),
        1,
        "{applied:?}"
    );
}

#[tokio::test]
async fn a_database_made_by_the_original_init_script_is_adopted_with_its_data() {
    let name = create_database(false).await;
    let mut client = db::connect(&cluster().config(&name)).await.unwrap();
    // The original's tables, created without our migration history, holding a row.
    client
        .batch_execute(migrations::MIGRATIONS[0].sql)
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO workspace.workspace_items (title, category, priority, status) VALUES ('old', 'dashboard', 'low', 'new')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        migrations::migrate(&mut client).await.unwrap(),
        vec![1, 2, 3]
    );
    let app = spawn_app_with(AppOptions {
        database_url: Some(cluster().url(&name)),
        ..Default::default()
    })
    .await;
    let r = app.get("/api/items").await;
    assert_eq!(r.json["data"][0]["title"], "old");
    assert_eq!(r.json["data"][0]["description"], json!(null));
}

#[tokio::test]
async fn failed_migration_leaves_nothing_behind() {
    // A migration that fails half-way must roll back entirely: a conflicting function makes
    // migration 2 fail after it has already created the extension.
    let app = spawn_app_with(AppOptions {
        migrated: false,
        ..Default::default()
    })
    .await;
    let mut client = db::connect(&cluster().config(&app.dbname)).await.unwrap();
    client
        .batch_execute(migrations::MIGRATIONS[0].sql)
        .await
        .unwrap();
    client
        .batch_execute("CREATE FUNCTION workspace.tags_text(tags text[]) RETURNS int LANGUAGE sql AS 'SELECT 1'")
        .await
        .unwrap();
    let err = migrations::migrate(&mut client).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("applying migration 2"),
        "{err:#}"
    );
    let applied = migrations::applied(&client).await.unwrap();
    assert_eq!(
        applied.iter().map(|a| a.version).collect::<Vec<_>>(),
        vec![1]
    );
    let has_color: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'workspace' AND column_name = 'color')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!has_color, "migration 2 must be all or nothing");
    let trgm: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        !trgm,
        "the extension created earlier in migration 2 is rolled back too"
    );
}

/// Every GIN index on items merges its entries on insert (no pending list to flush in the
/// middle of some client's write: that was the write p99).
#[tokio::test]
async fn gin_indexes_have_no_pending_list() {
    let app = spawn_app().await;
    let rows = app
        .db
        .query(
            "SELECT c.relname::text, coalesce(array_to_string(c.reloptions, ','), '')
               FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_am a ON a.oid = c.relam
              WHERE n.nspname = 'workspace' AND a.amname = 'gin'",
            &[],
        )
        .await
        .unwrap();
    assert!(rows.len() >= 5, "{}", rows.len());
    for r in rows {
        let (name, options): (String, String) = (r.get(0), r.get(1));
        assert!(options.contains("fastupdate=off"), "{name}: {options:?}");
    }
}
