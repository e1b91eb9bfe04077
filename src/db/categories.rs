//! Queries on `workspace.workspace_categories`.

use chrono::{DateTime, Utc};
use deadpool_postgres::ClientWrapper as Client;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::domain::{CategoryName, CategoryPatch, Change, NewCategory};

const COLUMNS: &str =
    "name, display_name, description, is_active, sort_order, created_at, updated_at, color, icon";

#[derive(Debug, Clone, PartialEq)]
pub struct CategoryRow {
    pub name: String,
    pub display_name: String,
    pub description: Option<String>,
    pub is_active: bool,
    pub sort_order: i32,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub color: Option<String>,
    pub icon: Option<String>,
}

impl TryFrom<&Row> for CategoryRow {
    type Error = tokio_postgres::Error;
    fn try_from(r: &Row) -> Result<Self, Self::Error> {
        Ok(CategoryRow {
            name: r.try_get(0)?,
            display_name: r.try_get(1)?,
            description: r.try_get(2)?,
            // NULLs are possible in the original schema; they meant "active" and "first".
            is_active: r.try_get::<_, Option<bool>>(3)?.unwrap_or(true),
            sort_order: r.try_get::<_, Option<i32>>(4)?.unwrap_or(0),
            created_at: r.try_get(5)?,
            updated_at: r.try_get(6)?,
            color: r.try_get(7)?,
            icon: r.try_get(8)?,
        })
    }
}

#[derive(Debug)]
pub enum CategoryError {
    NotFound,
    AlreadyExists,
    InUse { items: i64 },
    Db(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for CategoryError {
    fn from(e: tokio_postgres::Error) -> Self {
        CategoryError::Db(e)
    }
}

pub async fn list(
    client: &Client,
    active_only: bool,
) -> Result<Vec<CategoryRow>, tokio_postgres::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM workspace.workspace_categories
          WHERE $1 = false OR is_active IS NOT false
          ORDER BY sort_order NULLS FIRST, name"
    );
    client
        .query(&sql, &[&active_only])
        .await?
        .iter()
        .map(CategoryRow::try_from)
        .collect()
}

pub async fn get(
    client: &Client,
    name: &str,
) -> Result<Option<CategoryRow>, tokio_postgres::Error> {
    let sql = format!("SELECT {COLUMNS} FROM workspace.workspace_categories WHERE name = $1");
    client
        .query_opt(&sql, &[&name])
        .await?
        .as_ref()
        .map(CategoryRow::try_from)
        .transpose()
}

pub async fn is_active(client: &Client, name: &str) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM workspace.workspace_categories WHERE name = $1 AND is_active IS NOT false",
            &[&name],
        )
        .await?
        .is_some())
}

pub async fn create(client: &Client, c: &NewCategory) -> Result<CategoryRow, CategoryError> {
    let sql = format!(
        "INSERT INTO workspace.workspace_categories
             (name, display_name, description, sort_order, is_active, color, icon, created_at, updated_at)
         VALUES ($1, $2, $3, $4, true, $5, $6, now(), now())
         ON CONFLICT (name) DO NOTHING
         RETURNING {COLUMNS}"
    );
    let row = client
        .query_opt(
            &sql,
            &[
                &c.name.as_str(),
                &c.display_name,
                &c.description,
                &c.sort_order,
                &c.color,
                &c.icon,
            ],
        )
        .await?;
    match row.as_ref().map(CategoryRow::try_from) {
        Some(r) => Ok(r?),
        None => Err(CategoryError::AlreadyExists),
    }
}

pub async fn update(
    client: &Client,
    name: &CategoryName,
    patch: &CategoryPatch,
) -> Result<CategoryRow, CategoryError> {
    let mut sets: Vec<String> = Vec::new();
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(name.as_str().to_string())];
    let mut set = |column: &str, value: Box<dyn ToSql + Sync + Send>| {
        params.push(value);
        sets.push(format!("{column} = ${}", params.len()));
    };
    if let Some(v) = &patch.display_name {
        set("display_name", Box::new(v.clone()));
    }
    if let Some(v) = patch.sort_order {
        set("sort_order", Box::new(v));
    }
    if let Some(v) = patch.is_active {
        set("is_active", Box::new(v));
    }
    for (column, change) in [
        ("description", &patch.description),
        ("color", &patch.color),
        ("icon", &patch.icon),
    ] {
        match change {
            Change::Keep => {}
            Change::Clear => set(column, Box::new(None::<String>)),
            Change::Set(v) => set(column, Box::new(v.clone())),
        }
    }
    // An empty patch still answers with the row (and 404 for a missing one).
    let sql = if sets.is_empty() {
        format!("SELECT {COLUMNS} FROM workspace.workspace_categories WHERE name = $1")
    } else {
        format!(
            "UPDATE workspace.workspace_categories SET {} WHERE name = $1 RETURNING {COLUMNS}",
            sets.join(", ")
        )
    };
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
    match client.query_opt(&sql, &refs).await?.as_ref() {
        Some(r) => Ok(CategoryRow::try_from(r)?),
        None => Err(CategoryError::NotFound),
    }
}

/// Hard delete, refused while items use the category.
pub async fn delete(
    client: &mut deadpool_postgres::Client,
    name: &str,
) -> Result<(), CategoryError> {
    let tx = client.transaction().await?;
    // Lock the row first so an item cannot be added between the count and the delete.
    let exists = tx
        .query_opt(
            "SELECT 1 FROM workspace.workspace_categories WHERE name = $1 FOR UPDATE",
            &[&name],
        )
        .await?
        .is_some();
    if !exists {
        return Err(CategoryError::NotFound);
    }
    let items: i64 = tx
        .query_one(
            "SELECT count(*) FROM workspace.workspace_items WHERE category = $1",
            &[&name],
        )
        .await?
        .try_get(0)?;
    if items > 0 {
        return Err(CategoryError::InUse { items });
    }
    tx.execute(
        "DELETE FROM workspace.workspace_categories WHERE name = $1",
        &[&name],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn toggle(
    client: &Client,
    name: &str,
) -> Result<Option<CategoryRow>, tokio_postgres::Error> {
    let sql = format!(
        "UPDATE workspace.workspace_categories SET is_active = NOT coalesce(is_active, true)
          WHERE name = $1 RETURNING {COLUMNS}"
    );
    client
        .query_opt(&sql, &[&name])
        .await?
        .as_ref()
        .map(CategoryRow::try_from)
        .transpose()
}

pub async fn stats(client: &Client) -> Result<(i64, i64), tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE is_active IS NOT false)
               FROM workspace.workspace_categories",
            &[],
        )
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}
