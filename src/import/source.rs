//! What the source database holds and how its columns map onto ours, by name.
//!
//! Two layouts exist in the wild (contract §3): serial ids with `display_name`/`sort_order`
//! categories, and the TimescaleDB one with UUID ids (key `(id, created_at)`) and categories
//! with `color`, `icon` and `display_order`. Each target column gets one SQL expression over
//! the source's columns, cast to the target's type so that both sides print values the same
//! way in COPY text format — which is what the checksums compare.

use anyhow::{bail, Context};
use serde::Serialize;
use tokio_postgres::Client;

/// The id scheme of the source's items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// Integer ids, kept as they are.
    Serial,
    /// UUID ids: items get new integer ids (in `created_at, id` order) and keep the original
    /// as `metadata.source_id`.
    Uuid,
}

/// One table's mapping: target columns and the source expressions that fill them.
#[derive(Debug, Clone, Serialize)]
pub struct TableMap {
    pub source_table: String,
    pub target_table: &'static str,
    /// (target column, source expression)
    pub columns: Vec<(&'static str, String)>,
    /// Source columns nothing maps from (reported, not copied).
    pub unmapped: Vec<String>,
    /// Target columns filled by a rule rather than a same-named column.
    pub notes: Vec<String>,
    /// The expression that names a row in the report (the source's own id or name).
    #[serde(skip)]
    pub source_key: String,
    #[serde(skip)]
    order_by: String,
}

impl TableMap {
    /// `COPY (…) TO STDOUT` over the source: the row's key first, then the mapped columns.
    pub fn source_copy(&self) -> String {
        let exprs: Vec<String> = self
            .columns
            .iter()
            .map(|(t, e)| format!("{e} AS {t}"))
            .collect();
        format!(
            "COPY (SELECT {}::text AS source_key, {} FROM {} ORDER BY {}) TO STDOUT",
            self.source_key,
            exprs.join(", "),
            self.source_table,
            self.order_by
        )
    }

    pub fn target_columns(&self) -> Vec<&'static str> {
        self.columns.iter().map(|(t, _)| *t).collect()
    }

    /// The same columns read back from the target, for its checksum.
    pub fn target_copy(&self) -> String {
        format!(
            "COPY (SELECT {} FROM workspace.{}) TO STDOUT",
            self.target_columns().join(", "),
            self.target_table
        )
    }

    pub fn position(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|(t, _)| *t == column)
    }
}

/// The source's layout, found by looking at its catalogue.
#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    pub variant: Variant,
    pub categories: TableMap,
    pub items: TableMap,
    /// The source schema the tables are in (`workspace`, or what `--schema` or the search found).
    pub schema: String,
    /// Tables in the source's schema that are not imported (audit log, …).
    pub other_tables: Vec<String>,
}

async fn columns(
    client: &Client,
    schema: &str,
    table: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    Ok(client
        .query(
            "SELECT column_name::text, udt_name::text FROM information_schema.columns
              WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            &[&schema, &table],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// The first of `names` the source has.
fn pick<'a>(have: &'a [(String, String)], names: &[&str]) -> Option<&'a (String, String)> {
    names.iter().find_map(|n| have.iter().find(|(c, _)| c == n))
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The schema to read: `wanted` when given, else `workspace` when it holds the items table,
/// else the one schema that does; none or several is an error naming the candidates.
pub async fn find_schema(client: &Client, wanted: Option<&str>) -> anyhow::Result<String> {
    if let Some(schema) = wanted {
        return Ok(schema.to_string());
    }
    let found: Vec<String> = client
        .query(
            "SELECT table_schema::text FROM information_schema.tables
              WHERE table_name = 'workspace_items' AND table_type = 'BASE TABLE' ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    match found.as_slice() {
        [] => bail!(
            "the source has no table workspace_items in any schema — point --from at the old \
             Workspace database"
        ),
        [one] => Ok(one.clone()),
        many if many.iter().any(|s| s == "workspace") => Ok("workspace".into()),
        many => bail!(
            "the source has workspace_items in several schemas ({}) — pass --schema NAME",
            many.join(", ")
        ),
    }
}

/// The source's tables in `schema` and how they map onto ours.
pub async fn inspect(client: &Client, schema: &str) -> anyhow::Result<Layout> {
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables
              WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY 1",
            &[&schema],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !tables.iter().any(|t| t == "workspace_items") {
        bail!(
            "the source has no table {schema}.workspace_items (tables in schema {schema}: {}) — \
             point --from at the old Workspace database, or --schema at the schema that holds it",
            if tables.is_empty() {
                "none".to_string()
            } else {
                tables.join(", ")
            }
        );
    }
    let items = columns(client, schema, "workspace_items").await?;

    let missing: Vec<&str> = ["title", "category", "priority", "status"]
        .into_iter()
        .filter(|c| pick(&items, &[c]).is_none())
        .collect();
    if !missing.is_empty() || pick(&items, &["id"]).is_none() {
        bail!(
            "{schema}.workspace_items in the source lacks {} — this is not a Workspace schema \
             wsctl knows (see the README's import section)",
            if missing.is_empty() {
                "id".to_string()
            } else {
                missing.join(", ")
            }
        );
    }
    let cat_table = ["workspace_categories", "categories"]
        .into_iter()
        .find(|t| tables.iter().any(|x| x == t))
        .with_context(|| {
            format!(
                "the source has no categories table ({schema}.workspace_categories or \
                 {schema}.categories) — the items' categories cannot be imported without it"
            )
        })?;
    let cats = columns(client, schema, cat_table).await?;
    if pick(&cats, &["name"]).is_none() {
        bail!("{schema}.{cat_table} in the source has no name column");
    }
    let variant = match pick(&items, &["id"]).map(|(_, t)| t.as_str()) {
        Some("uuid") => Variant::Uuid,
        Some("int4" | "int8" | "int2") => Variant::Serial,
        Some(other) => {
            bail!("workspace_items.id in the source is {other}; wsctl imports integer or UUID ids")
        }
        None => unreachable!("checked above"),
    };

    let categories = category_map(&cats, schema, cat_table);
    let items = item_map(&items, schema, variant);
    let other_tables = tables
        .into_iter()
        .filter(|t| t != "workspace_items" && t != cat_table)
        .collect();
    Ok(Layout {
        variant,
        categories,
        items,
        schema: schema.to_string(),
        other_tables,
    })
}

/// The first of `names` the source has, read as `target` with a cast; it joins `used`.
fn map_column(
    have: &[(String, String)],
    used: &mut Vec<String>,
    target: &'static str,
    names: &[&str],
    cast: &str,
) -> Option<(&'static str, String)> {
    pick(have, names).map(|(c, _)| {
        used.push(c.clone());
        (target, format!("{}::{cast}", quote(c)))
    })
}

/// How the source's categories table (`cats`, named `cat_table`) maps onto ours.
fn category_map(cats: &[(String, String)], schema: &str, cat_table: &str) -> TableMap {
    let mut used = Vec::new();
    let mut notes = Vec::new();
    let mut cat_cols = Vec::new();
    for (target, names, cast) in [
        ("name", &["name"][..], "text"),
        ("display_name", &["display_name"][..], "text"),
        ("description", &["description"][..], "text"),
        ("is_active", &["is_active", "active"][..], "boolean"),
        (
            "sort_order",
            &["sort_order", "display_order"][..],
            "integer",
        ),
        ("color", &["color"][..], "text"),
        ("icon", &["icon"][..], "text"),
        ("created_at", &["created_at"][..], "timestamptz"),
        ("updated_at", &["updated_at"][..], "timestamptz"),
    ] {
        if let Some(c) = map_column(cats, &mut used, target, names, cast) {
            if c.1.trim_start_matches('"').split('"').next() != Some(target) {
                notes.push(format!("categories.{target} ← {}", c.1));
            }
            cat_cols.push(c);
        } else if target == "display_name" {
            // Ours is NOT NULL; the TimescaleDB layout has none, so the name stands in.
            cat_cols.push(("display_name", "\"name\"::text".to_string()));
            notes.push("categories.display_name ← name (the source has no display_name)".into());
        }
    }
    let cat_unmapped = cats
        .iter()
        .map(|(c, _)| c.clone())
        .filter(|c| !used.contains(c))
        .collect();
    TableMap {
        source_table: format!("{}.{}", quote(schema), quote(cat_table)),
        target_table: "workspace_categories",
        columns: cat_cols,
        unmapped: cat_unmapped,
        notes,
        source_key: "\"name\"".into(),
        order_by: "\"name\"".into(),
    }
}

/// How the source's workspace_items (`items`) map onto ours.
fn item_map(items: &[(String, String)], schema: &str, variant: Variant) -> TableMap {
    let mut used = Vec::new();
    let mut notes = Vec::new();
    let mut item_cols = Vec::new();
    let has_created = pick(items, &["created_at"]).is_some();
    match variant {
        Variant::Serial => {
            item_cols
                .push(map_column(items, &mut used, "id", &["id"], "integer").expect("checked"));
        }
        Variant::Uuid => {
            used.push("id".into());
            let order = if has_created {
                "\"created_at\", \"id\""
            } else {
                "\"id\""
            };
            item_cols.push((
                "id",
                format!("(row_number() OVER (ORDER BY {order}))::integer"),
            ));
            notes.push(
                "items.id ← a new integer id in (created_at, id) order; the UUID is kept as \
                 metadata.source_id"
                    .into(),
            );
        }
    }
    for (target, cast) in [
        ("title", "text"),
        ("description", "text"),
        ("category", "text"),
        ("priority", "text"),
        ("status", "text"),
        ("tags", "text[]"),
        ("metadata", "jsonb"),
        ("created_at", "timestamptz"),
        ("updated_at", "timestamptz"),
        ("created_by", "text"),
        ("updated_by", "text"),
    ] {
        if let Some(mut c) = map_column(items, &mut used, target, &[target], cast) {
            if target == "metadata" && variant == Variant::Uuid {
                c.1 = format!(
                    "(coalesce({}, '{{}}'::jsonb) || jsonb_build_object('source_id', \"id\"::text))",
                    c.1
                );
            }
            item_cols.push(c);
        } else if target == "metadata" && variant == Variant::Uuid {
            item_cols.push((
                "metadata",
                "jsonb_build_object('source_id', \"id\"::text)".into(),
            ));
        }
    }
    let item_unmapped = items
        .iter()
        .map(|(c, _)| c.clone())
        .filter(|c| !used.contains(c))
        .collect();
    TableMap {
        source_table: format!("{}.workspace_items", quote(schema)),
        target_table: "workspace_items",
        columns: item_cols,
        unmapped: item_unmapped,
        notes,
        source_key: "\"id\"".into(),
        order_by: if variant == Variant::Uuid && has_created {
            "\"created_at\", \"id\"".into()
        } else {
            "\"id\"".into()
        },
    }
}
