//! A database's schema as the catalogue describes it: schemas, sequences, tables, columns,
//! constraints, indexes, functions, triggers and grants, each with the OID (or, for a column,
//! table OID and attnum) that follows it through a rename. `schema_diff` compares two of them.
//!
//! System schemas and whatever an extension owns are left out: they come with the server or
//! the extension, not with the workspace's migrations.

use std::collections::BTreeMap;

use anyhow::Context;
use tokio_postgres::{Client, Row};

/// The kinds of object, in the order a migration creates them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjKind {
    Schema,
    Sequence,
    Table,
    Column,
    Constraint,
    Index,
    Function,
    Trigger,
    Grant,
}

impl ObjKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjKind::Schema => "schema",
            ObjKind::Sequence => "sequence",
            ObjKind::Table => "table",
            ObjKind::Column => "column",
            ObjKind::Constraint => "constraint",
            ObjKind::Index => "index",
            ObjKind::Function => "function",
            ObjKind::Trigger => "trigger",
            ObjKind::Grant => "grant",
        }
    }
}

/// One catalogue object. Names prefixed `q_` are quoted by the server (`quote_ident`), ready
/// for SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub kind: ObjKind,
    /// What it is called, qualified: `workspace.items.title`, `workspace.touch()`.
    pub name: String,
    /// Its own name, unqualified.
    pub own: String,
    pub q_own: String,
    pub q_schema: String,
    /// Columns, constraints, indexes and triggers: the table, qualified and quoted.
    pub q_table: Option<String>,
    /// The object that holds it (a table, or a schema), by `name`: dropping that drops it.
    pub container: Option<String>,
    /// Functions: the identity arguments. Grants: the privilege's target (`TABLE a.b`).
    pub extra: Option<String>,
    /// Indexes, triggers and functions: the full CREATE statement (`definition` has the
    /// object's own name and table blanked out, so a rename alone is not a change).
    pub ddl: Option<String>,
    /// Follows the object through renames: its OID (a column: table OID and attnum).
    pub lineage: Option<String>,
    /// What is compared: type, default, definition, ...
    pub attrs: BTreeMap<String, String>,
}

/// Everything `read` found, by kind and name.
pub type Catalog = Vec<Object>;

const SYSTEM: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
                      AND n.nspname NOT LIKE 'pg\\_%'";

fn not_extension(catalog: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '{catalog}'::regclass \
         AND e.objid = {oid} AND e.deptype = 'e')"
    )
}

/// Reads the schema of the database `client` is connected to.
pub async fn read(client: &Client) -> anyhow::Result<Catalog> {
    let mut out = Vec::new();
    out.extend(schemas(client).await.context("reading schemas")?);
    out.extend(sequences(client).await.context("reading sequences")?);
    out.extend(tables(client).await.context("reading tables")?);
    out.extend(columns(client).await.context("reading columns")?);
    out.extend(constraints(client).await.context("reading constraints")?);
    out.extend(indexes(client).await.context("reading indexes")?);
    out.extend(functions(client).await.context("reading functions")?);
    out.extend(triggers(client).await.context("reading triggers")?);
    out.extend(grants(client).await.context("reading grants")?);
    out.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    Ok(out)
}

fn s(row: &Row, i: usize) -> anyhow::Result<String> {
    Ok(row.try_get::<_, String>(i)?)
}

fn attrs<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Common columns of a schema-level object: oid, schema, name, quoted schema, quoted name.
fn base(kind: ObjKind, row: &Row) -> anyhow::Result<Object> {
    let (schema, own) = (s(row, 1)?, s(row, 2)?);
    Ok(Object {
        kind,
        name: format!("{schema}.{own}"),
        own,
        q_own: s(row, 4)?,
        q_schema: s(row, 3)?,
        q_table: None,
        container: Some(schema),
        extra: None,
        ddl: None,
        lineage: Some(s(row, 0)?),
        attrs: BTreeMap::new(),
    })
}

/// A table's child (oid, schema, table, q schema, q table, name, q name at 0..=6).
fn child(kind: ObjKind, row: &Row) -> anyhow::Result<Object> {
    let (schema, table, own) = (s(row, 1)?, s(row, 2)?, s(row, 5)?);
    let (q_schema, q_rel) = (s(row, 3)?, s(row, 4)?);
    Ok(Object {
        kind,
        name: format!("{schema}.{table}.{own}"),
        own,
        q_own: s(row, 6)?,
        q_table: Some(format!("{q_schema}.{q_rel}")),
        q_schema,
        container: Some(format!("{schema}.{table}")),
        extra: None,
        ddl: None,
        lineage: Some(s(row, 0)?),
        attrs: BTreeMap::new(),
    })
}

async fn schemas(client: &Client) -> anyhow::Result<Vec<Object>> {
    let sql = format!(
        "SELECT n.oid::text, n.nspname::text, quote_ident(n.nspname) FROM pg_namespace n
          WHERE {SYSTEM} AND {}",
        not_extension("pg_namespace", "n.oid")
    );
    let mut out = Vec::new();
    for row in client.query(&sql, &[]).await? {
        let own = s(&row, 1)?;
        out.push(Object {
            kind: ObjKind::Schema,
            name: own.clone(),
            own,
            q_own: s(&row, 2)?,
            q_schema: s(&row, 2)?,
            q_table: None,
            container: None,
            extra: None,
            ddl: None,
            lineage: Some(s(&row, 0)?),
            attrs: BTreeMap::new(),
        });
    }
    Ok(out)
}

async fn sequences(client: &Client) -> anyhow::Result<Vec<Object>> {
    // Identity columns' sequences belong to the column (deptype 'i') and come with it.
    let sql = format!(
        "SELECT c.oid::text, n.nspname::text, c.relname::text, quote_ident(n.nspname),
                quote_ident(c.relname), format_type(q.seqtypid, NULL), q.seqstart::text,
                q.seqincrement::text, q.seqmin::text, q.seqmax::text, q.seqcache::text,
                q.seqcycle::text
           FROM pg_sequence q JOIN pg_class c ON c.oid = q.seqrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE {SYSTEM} AND NOT EXISTS (SELECT 1 FROM pg_depend d
                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                   AND d.deptype IN ('i', 'e'))"
    );
    let mut out = Vec::new();
    for row in client.query(&sql, &[]).await? {
        let mut o = base(ObjKind::Sequence, &row)?;
        o.attrs = attrs([
            ("type", s(&row, 5)?),
            ("start", s(&row, 6)?),
            ("increment", s(&row, 7)?),
            ("min", s(&row, 8)?),
            ("max", s(&row, 9)?),
            ("cache", s(&row, 10)?),
            ("cycle", s(&row, 11)?),
        ]);
        out.push(o);
    }
    Ok(out)
}

async fn tables(client: &Client) -> anyhow::Result<Vec<Object>> {
    let sql = format!(
        "SELECT c.oid::text, n.nspname::text, c.relname::text, quote_ident(n.nspname),
                quote_ident(c.relname), c.relkind::text, c.relpersistence::text
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p') AND {SYSTEM} AND {}",
        not_extension("pg_class", "c.oid")
    );
    let mut out = Vec::new();
    for row in client.query(&sql, &[]).await? {
        let mut o = base(ObjKind::Table, &row)?;
        let kind = if s(&row, 5)? == "p" {
            "partitioned"
        } else {
            "ordinary"
        };
        let logged = if s(&row, 6)? == "u" {
            "unlogged"
        } else {
            "logged"
        };
        o.attrs = attrs([("kind", kind.into()), ("persistence", logged.into())]);
        out.push(o);
    }
    Ok(out)
}

async fn columns(client: &Client) -> anyhow::Result<Vec<Object>> {
    let sql = format!(
        "SELECT c.oid::text || ':' || a.attnum::text, n.nspname::text, c.relname::text,
                quote_ident(n.nspname), quote_ident(c.relname), a.attname::text,
                quote_ident(a.attname), format_type(a.atttypid, a.atttypmod),
                CASE WHEN a.attnotnull THEN 'not null' ELSE 'null' END,
                coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attidentity::text,
                a.attgenerated::text
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND {SYSTEM}
            AND {}",
        not_extension("pg_class", "c.oid")
    );
    let mut out = Vec::new();
    for row in client.query(&sql, &[]).await? {
        let mut o = child(ObjKind::Column, &row)?;
        let identity = match s(&row, 10)?.as_str() {
            "a" => "always",
            "d" => "by default",
            _ => "",
        };
        let generated = if s(&row, 11)? == "s" { "stored" } else { "" };
        o.attrs = attrs([
            ("type", s(&row, 7)?),
            ("nullability", s(&row, 8)?),
            ("default", s(&row, 9)?),
            ("identity", identity.into()),
            ("generated", generated.into()),
        ]);
        o.attrs.retain(|_, v| !v.is_empty());
        out.push(o);
    }
    Ok(out)
}

async fn constraints(client: &Client) -> anyhow::Result<Vec<Object>> {
    // NOT NULL is a column's nullability (PostgreSQL 18 also lists it here, as 'n').
    let sql = format!(
        "SELECT co.oid::text, n.nspname::text, c.relname::text, quote_ident(n.nspname),
                quote_ident(c.relname), co.conname::text, quote_ident(co.conname),
                co.contype::text, pg_get_constraintdef(co.oid)
           FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE co.contype <> 'n' AND c.relkind IN ('r', 'p') AND {SYSTEM} AND {}",
        not_extension("pg_class", "c.oid")
    );
    let mut out = Vec::new();
    for row in client.query(&sql, &[]).await? {
        let mut o = child(ObjKind::Constraint, &row)?;
        o.attrs = attrs([("type", s(&row, 7)?), ("definition", s(&row, 8)?)]);
        out.push(o);
    }
    Ok(out)
}

async fn indexes(client: &Client) -> anyhow::Result<Vec<Object>> {
    // Indexes behind a primary key, unique or exclusion constraint come with the constraint.
    let sql = format!(
        "SELECT i.oid::text, n.nspname::text, t.relname::text, quote_ident(n.nspname),
                quote_ident(t.relname), i.relname::text, quote_ident(i.relname),
                pg_get_indexdef(i.oid)
           FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
           JOIN pg_class t ON t.oid = x.indrelid
           JOIN pg_namespace n ON n.oid = i.relnamespace
          WHERE t.relkind IN ('r', 'p') AND {SYSTEM} AND {}
            AND NOT EXISTS (SELECT 1 FROM pg_constraint co
                             WHERE co.conindid = i.oid AND co.contype IN ('p', 'u', 'x'))",
        not_extension("pg_class", "t.oid")
    );
    let mut out = Vec::new();
    for row in client.query(&sql, &[]).await? {
        let mut o = child(ObjKind::Index, &row)?;
        // An index lives in the schema, not the table: its SQL name is schema.index.
        o.name = format!("{}.{}", s(&row, 1)?, o.own);
        with_ddl(&mut o, s(&row, 7)?);
        out.push(o);
    }
    Ok(out)
}

/// Keeps the statement as `ddl` and compares it without the object's own name and table.
fn with_ddl(o: &mut Object, ddl: String) {
    let mut def = ddl.replacen(&format!(" {} ", o.q_own), " _ ", 1);
    if let Some(t) = &o.q_table {
        def = def.replacen(&format!(" ON {t} "), " ON _ ", 1);
        def = def.replacen(&format!(" ON ONLY {t} "), " ON ONLY _ ", 1);
    }
    def = def.replacen(&format!(" {}.{}(", o.q_schema, o.q_own), " _(", 1);
    o.attrs.insert("definition".into(), def);
    o.ddl = Some(ddl);
}

async fn functions(client: &Client) -> anyhow::Result<Vec<Object>> {
    let sql = format!(
        "SELECT p.oid::text, n.nspname::text, p.proname::text, quote_ident(n.nspname),
                quote_ident(p.proname), pg_get_function_identity_arguments(p.oid),
                pg_get_functiondef(p.oid)
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE p.prokind IN ('f', 'p') AND {SYSTEM} AND {}",
        not_extension("pg_proc", "p.oid")
    );
    let mut out = Vec::new();
    for row in client.query(&sql, &[]).await? {
        let mut o = base(ObjKind::Function, &row)?;
        let args = s(&row, 5)?;
        o.name = format!("{}({args})", o.name);
        o.extra = Some(args);
        with_ddl(&mut o, s(&row, 6)?);
        out.push(o);
    }
    Ok(out)
}

async fn triggers(client: &Client) -> anyhow::Result<Vec<Object>> {
    let sql = format!(
        "SELECT tg.oid::text, n.nspname::text, c.relname::text, quote_ident(n.nspname),
                quote_ident(c.relname), tg.tgname::text, quote_ident(tg.tgname),
                pg_get_triggerdef(tg.oid)
           FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE NOT tg.tgisinternal AND {SYSTEM} AND {}",
        not_extension("pg_class", "c.oid")
    );
    let mut out = Vec::new();
    for row in client.query(&sql, &[]).await? {
        let mut o = child(ObjKind::Trigger, &row)?;
        with_ddl(&mut o, s(&row, 7)?);
        out.push(o);
    }
    Ok(out)
}

/// Privileges on tables, sequences, functions and schemas, except the owner's own. An object
/// nobody granted anything on has no ACL; its default privileges stand in, so the first GRANT
/// on one side shows as that grant alone.
async fn grants(client: &Client) -> anyhow::Result<Vec<Object>> {
    let grantee = "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END";
    let q_grantee =
        "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END";
    let sql = format!(
        "SELECT o.oid, o.container, o.target, o.q_target, o.q_schema, {grantee}, {q_grantee},
                a.privilege_type, a.is_grantable::text
           FROM (SELECT c.oid::text AS oid, n.nspname || '.' || c.relname AS container,
                        CASE c.relkind WHEN 'S' THEN 'sequence ' ELSE 'table ' END
                          || n.nspname || '.' || c.relname AS target,
                        CASE c.relkind WHEN 'S' THEN 'SEQUENCE ' ELSE 'TABLE ' END
                          || quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS q_target,
                        quote_ident(n.nspname) AS q_schema,
                        coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's'::\"char\"
                                 ELSE 'r'::\"char\" END, c.relowner)) AS acl,
                        c.relowner AS owner
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind IN ('r', 'p', 'S') AND {SYSTEM} AND {}
                    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                     AND d.objid = c.oid AND d.deptype = 'i')
                 UNION ALL
                 SELECT p.oid::text, n.nspname || '.' || p.proname || '('
                          || pg_get_function_identity_arguments(p.oid) || ')',
                        'function ' || n.nspname || '.' || p.proname || '('
                          || pg_get_function_identity_arguments(p.oid) || ')',
                        'FUNCTION ' || quote_ident(n.nspname) || '.' || quote_ident(p.proname)
                          || '(' || pg_get_function_identity_arguments(p.oid) || ')',
                        quote_ident(n.nspname),
                        coalesce(p.proacl, acldefault('f'::\"char\", p.proowner)), p.proowner
                   FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                  WHERE p.prokind IN ('f', 'p') AND {SYSTEM} AND {}
                 UNION ALL
                 SELECT n.oid::text, n.nspname::text, 'schema ' || n.nspname,
                        'SCHEMA ' || quote_ident(n.nspname), quote_ident(n.nspname),
                        coalesce(n.nspacl, acldefault('n'::\"char\", n.nspowner)), n.nspowner
                   FROM pg_namespace n WHERE {SYSTEM} AND {}) o,
                LATERAL aclexplode(o.acl) a
          WHERE a.grantee <> o.owner",
        not_extension("pg_class", "c.oid"),
        not_extension("pg_proc", "p.oid"),
        not_extension("pg_namespace", "n.oid"),
    );
    let mut out = Vec::new();
    for row in client.query(&sql, &[]).await? {
        let (target, who, privilege) = (s(&row, 2)?, s(&row, 5)?, s(&row, 7)?);
        out.push(Object {
            kind: ObjKind::Grant,
            name: format!("{privilege} on {target} to {who}"),
            own: format!("{privilege} to {who}"),
            q_own: s(&row, 6)?,
            q_schema: s(&row, 4)?,
            q_table: None,
            container: Some(s(&row, 1)?),
            extra: Some(s(&row, 3)?),
            ddl: None,
            lineage: Some(format!("{}:{who}:{privilege}", s(&row, 0)?)),
            attrs: attrs([("privilege", privilege), ("grant option", s(&row, 8)?)]),
        });
    }
    Ok(out)
}
