//! Queries on `workspace.workspace_items`. Filtering, search and paging all happen in SQL, on
//! indexes; statements are prepared once per connection.

use chrono::{DateTime, Utc};
use deadpool_postgres::ClientWrapper as Client;
use serde_json::{Map, Value};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::like_pattern;
use crate::domain::limits::PAGE_MAX_BYTES;
use crate::domain::{CategoryName, ItemFilter, ItemId, ItemPatch, NewItem};

const COLUMNS: &str = "id, title, description, category, priority, status, tags, created_at, \
                       updated_at, created_by, updated_by, metadata";

/// An item as stored: the row itself, read through borrowing accessors, so a page of items
/// is serialised straight from the driver's buffers without copying every field first.
#[derive(Debug)]
pub struct ItemRow(Row);

impl TryFrom<Row> for ItemRow {
    type Error = tokio_postgres::Error;
    fn try_from(r: Row) -> Result<Self, Self::Error> {
        ItemRow::check(r)
    }
}

/// Columns read by these accessors are checked once, when the row is turned into an
/// `ItemRow` (see `check`), so the fallbacks below are never what a client sees; they exist
/// so that no stored value can make a request panic.
impl ItemRow {
    /// A row from a statement selecting `COLUMNS`, refused (not panicking later) if a column
    /// has a type or a NULL the accessors cannot read.
    fn check(row: Row) -> Result<Self, tokio_postgres::Error> {
        row.try_get::<_, i32>(0)?;
        row.try_get::<_, &str>(1)?;
        row.try_get::<_, Option<&str>>(2)?;
        row.try_get::<_, &str>(3)?;
        row.try_get::<_, &str>(4)?;
        row.try_get::<_, &str>(5)?;
        row.try_get::<_, Option<Vec<&str>>>(6)?;
        row.try_get::<_, Option<DateTime<Utc>>>(7)?;
        row.try_get::<_, Option<DateTime<Utc>>>(8)?;
        row.try_get::<_, Option<&str>>(9)?;
        row.try_get::<_, Option<&str>>(10)?;
        row.try_get::<_, Option<RawJson<'_>>>(11)?;
        Ok(ItemRow(row))
    }

    pub fn id(&self) -> i32 {
        self.0.try_get(0).unwrap_or_default()
    }
    pub fn title(&self) -> &str {
        self.0.try_get(1).unwrap_or_default()
    }
    pub fn description(&self) -> Option<&str> {
        self.0.try_get(2).unwrap_or_default()
    }
    pub fn category(&self) -> &str {
        self.0.try_get(3).unwrap_or_default()
    }
    pub fn priority(&self) -> &str {
        self.0.try_get(4).unwrap_or_default()
    }
    pub fn status(&self) -> &str {
        self.0.try_get(5).unwrap_or_default()
    }
    pub fn tags(&self) -> Vec<&str> {
        self.0
            .try_get::<_, Option<Vec<&str>>>(6)
            .ok()
            .flatten()
            .unwrap_or_default()
    }
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        self.0.try_get(7).unwrap_or_default()
    }
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.0.try_get(8).unwrap_or_default()
    }
    pub fn created_by(&self) -> Option<&str> {
        self.0.try_get(9).unwrap_or_default()
    }
    pub fn updated_by(&self) -> Option<&str> {
        self.0.try_get(10).unwrap_or_default()
    }
    /// Bytes of text the row carries (title, description, tags, metadata): what its JSON costs.
    pub fn data_size(&self) -> usize {
        self.title().len()
            + self.description().map_or(0, str::len)
            + self.tags().iter().map(|t| t.len()).sum::<usize>()
            + self.metadata_json().map_or(0, str::len)
    }
    /// The metadata column's JSON text as PostgreSQL sent it (`None` for SQL NULL).
    pub fn metadata_json(&self) -> Option<&str> {
        self.0
            .try_get::<_, Option<RawJson<'_>>>(11)
            .ok()
            .flatten()
            .map(|j| j.0)
    }
}

/// `json`/`jsonb` read as text without parsing it into a tree: the API embeds it as is.
pub struct RawJson<'a>(pub &'a str);

impl<'a> tokio_postgres::types::FromSql<'a> for RawJson<'a> {
    fn from_sql(
        ty: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        // jsonb's binary form is a version byte (1) followed by the text.
        let text = if *ty == tokio_postgres::types::Type::JSONB {
            match raw.split_first() {
                Some((1, rest)) => rest,
                _ => return Err("unsupported jsonb version".into()),
            }
        } else {
            raw
        };
        Ok(RawJson(std::str::from_utf8(text)?))
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        matches!(
            *ty,
            tokio_postgres::types::Type::JSONB | tokio_postgres::types::Type::JSON
        )
    }
}

/// Why a write did not happen, when it is the caller's fault.
#[derive(Debug)]
pub enum WriteError {
    /// The category is not an active category; `valid` lists those that are.
    UnknownCategory {
        category: String,
        valid: Vec<String>,
    },
    NotFound,
    Db(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for WriteError {
    fn from(e: tokio_postgres::Error) -> Self {
        WriteError::Db(e)
    }
}

/// One page of items and how many match in total.
pub struct Page {
    pub items: Vec<ItemRow>,
    pub total: i64,
}

fn where_clause(filter: &ItemFilter) -> (String, Vec<Box<dyn ToSql + Sync + Send>>) {
    let mut conditions = Vec::new();
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut add = |condition: &str, value: String| {
        params.push(Box::new(value));
        conditions.push(condition.replace("$?", &format!("${}", params.len())));
    };
    if let Some(c) = &filter.category {
        add("category = $?", c.clone());
    }
    if let Some(s) = filter.status {
        add("status = $?", s.as_str().to_string());
    }
    if let Some(p) = filter.priority {
        add("priority = $?", p.as_str().to_string());
    }
    if let Some(search) = &filter.search {
        add(
            "(title ILIKE $? OR description ILIKE $? OR workspace.tags_text(tags) ILIKE $?)",
            like_pattern(search),
        );
    }
    let clause = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    (clause, params)
}

pub async fn list(client: &Client, filter: &ItemFilter) -> Result<Page, tokio_postgres::Error> {
    let (clause, params) = where_clause(filter);
    let n = params.len();
    let list_sql = format!(
        "SELECT {COLUMNS} FROM workspace.workspace_items{clause}
         ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let count_sql = format!("SELECT count(*) FROM workspace.workspace_items{clause}");
    let (list_stmt, count_stmt) = tokio::try_join!(
        client.prepare_cached(&list_sql),
        client.prepare_cached(&count_sql)
    )?;
    let count_params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
    let count_fut = client.query_one(&count_stmt, &count_params);
    let mut list_params = count_params.clone();
    list_params.push(&filter.limit);
    list_params.push(&filter.offset);
    // Both statements go out on the same connection without waiting for each other.
    let (items, count) = tokio::try_join!(
        read_page(client.query_raw(&list_stmt, list_params), PAGE_MAX_BYTES),
        count_fut
    )?;
    Ok(Page {
        items,
        total: count.try_get(0)?,
    })
}

/// The rows of a page, read as they arrive, up to `budget` bytes of item data: the page ends
/// before the row that would pass it (the first row always comes). Rows past that point are
/// discarded by the driver as they arrive, so huge rows (imported from elsewhere; the API
/// itself accepts ~55 KB at most) cannot make one response hold more than the budget and a row.
async fn read_page(
    rows: impl std::future::Future<Output = Result<tokio_postgres::RowStream, tokio_postgres::Error>>,
    budget: usize,
) -> Result<Vec<ItemRow>, tokio_postgres::Error> {
    use futures_util::TryStreamExt;
    let rows = rows.await?;
    futures_util::pin_mut!(rows);
    let (mut items, mut bytes) = (Vec::new(), 0usize);
    while let Some(row) = rows.try_next().await? {
        let item = ItemRow::try_from(row)?;
        bytes += item.data_size();
        if bytes > budget && !items.is_empty() {
            break;
        }
        items.push(item);
    }
    Ok(items)
}

pub async fn get(client: &Client, id: ItemId) -> Result<Option<ItemRow>, tokio_postgres::Error> {
    let sql = format!("SELECT {COLUMNS} FROM workspace.workspace_items WHERE id = $1");
    let stmt = client.prepare_cached(&sql).await?;
    client
        .query_opt(&stmt, &[&id.0])
        .await?
        .map(ItemRow::try_from)
        .transpose()
}

pub async fn active_category_names(client: &Client) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT name FROM workspace.workspace_categories WHERE is_active ORDER BY sort_order, name",
            &[],
        )
        .await?;
    rows.iter().map(|r| r.try_get(0)).collect()
}

async fn unknown_category(client: &Client, category: &CategoryName) -> WriteError {
    match active_category_names(client).await {
        Ok(valid) => WriteError::UnknownCategory {
            category: category.to_string(),
            valid,
        },
        Err(e) => WriteError::Db(e),
    }
}

fn is_fk_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION)
}

pub async fn create(client: &Client, item: &NewItem) -> Result<ItemRow, WriteError> {
    // The category check and the insert are one statement: no cache to go stale, no race
    // with a concurrent deactivation.
    let sql = format!(
        "INSERT INTO workspace.workspace_items
             (title, description, category, priority, status, tags, metadata, created_at, updated_at)
         SELECT $1, $2, $3, $4, 'new', $5, $6, now(), now()
          WHERE EXISTS (SELECT 1 FROM workspace.workspace_categories WHERE name = $3 AND is_active)
         RETURNING {COLUMNS}"
    );
    let metadata = Value::Object(item.metadata.clone());
    let stmt = client.prepare_cached(&sql).await?;
    let result = client
        .query_opt(
            &stmt,
            &[
                &item.title,
                &item.description,
                &item.category.as_str(),
                &item.priority.as_str(),
                &item.tags,
                &metadata,
            ],
        )
        .await;
    match result {
        Ok(Some(row)) => Ok(ItemRow::try_from(row)?),
        Ok(None) => Err(unknown_category(client, &item.category).await),
        Err(e) if is_fk_violation(&e) => Err(unknown_category(client, &item.category).await),
        Err(e) => Err(e.into()),
    }
}

pub async fn update(client: &Client, id: ItemId, patch: &ItemPatch) -> Result<ItemRow, WriteError> {
    // Order as before: a bad category is a 400 even when the id does not exist.
    if let Some(category) = &patch.category {
        let ok = client
            .query_opt(
                "SELECT 1 FROM workspace.workspace_categories WHERE name = $1 AND is_active",
                &[&category.as_str()],
            )
            .await?
            .is_some();
        if !ok {
            return Err(unknown_category(client, category).await);
        }
    }
    let mut sets = vec![
        "updated_at = now()".to_string(),
        "updated_by = NULL".to_string(),
    ];
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(id.0)];
    let mut set = |column: &str, value: Box<dyn ToSql + Sync + Send>| {
        params.push(value);
        sets.push(format!("{column} = ${}", params.len()));
    };
    if let Some(v) = &patch.title {
        set("title", Box::new(v.clone()));
    }
    if let Some(v) = &patch.description {
        set("description", Box::new(v.clone()));
    }
    if let Some(v) = &patch.category {
        set("category", Box::new(v.as_str().to_string()));
    }
    if let Some(v) = patch.priority {
        set("priority", Box::new(v.as_str()));
    }
    if let Some(v) = patch.status {
        set("status", Box::new(v.as_str()));
    }
    if let Some(v) = &patch.tags {
        set("tags", Box::new(v.clone()));
    }
    if let Some(v) = &patch.metadata {
        set("metadata", Box::new(Value::Object(v.clone())));
    }
    let sql = format!(
        "UPDATE workspace.workspace_items SET {} WHERE id = $1 RETURNING {COLUMNS}",
        sets.join(", ")
    );
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
    let stmt = client.prepare_cached(&sql).await?;
    match client.query_opt(&stmt, &refs).await {
        Ok(Some(row)) => Ok(ItemRow::try_from(row)?),
        Ok(None) => Err(WriteError::NotFound),
        Err(e) if is_fk_violation(&e) => match &patch.category {
            Some(c) => Err(unknown_category(client, c).await),
            None => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// Hard delete, as before. `false` when there was no such item.
pub async fn delete(client: &Client, id: ItemId) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .execute(
            "DELETE FROM workspace.workspace_items WHERE id = $1",
            &[&id.0],
        )
        .await?
        == 1)
}

/// Counts by category, status and priority in one pass.
pub struct Stats {
    pub total: i64,
    pub by_category: Map<String, Value>,
    pub by_status: Map<String, Value>,
    pub by_priority: Map<String, Value>,
}

pub async fn stats(client: &Client) -> Result<Stats, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT category, status, priority, count(*), GROUPING(category, status, priority)
               FROM workspace.workspace_items
              GROUP BY GROUPING SETS ((category), (status), (priority), ())
              ORDER BY 1, 2, 3",
            &[],
        )
        .await?;
    let mut stats = Stats {
        total: 0,
        by_category: Map::new(),
        by_status: Map::new(),
        by_priority: Map::new(),
    };
    for r in &rows {
        let count: i64 = r.try_get(3)?;
        // GROUPING() has a bit set for each column that is *not* grouped in this row.
        let (map, column) = match r.try_get::<_, i32>(4)? {
            0b011 => (&mut stats.by_category, 0),
            0b101 => (&mut stats.by_status, 1),
            0b110 => (&mut stats.by_priority, 2),
            _ => {
                stats.total = count;
                continue;
            }
        };
        map.insert(r.try_get(column)?, count.into());
    }
    Ok(stats)
}
