//! `wsctl branch diff A [B]`: the schema of branch A against B (A's parent when not named),
//! read from each branch's own database (postgres) or compute (neon).

use anyhow::{bail, Context};

use crate::backend::{Backend, Branches};
use crate::branch::MAIN;
use crate::db::{catalog, diff_sql, schema_diff};
use crate::stack::connection::pg_config_on;
use crate::stack::state::StateDir;

/// What `branch diff` found: the changes that turn `b` into `a`.
pub struct BranchDiff {
    pub a: String,
    pub b: String,
    pub ops: Vec<schema_diff::Op>,
}

impl BranchDiff {
    pub fn text(&self) -> String {
        schema_diff::text(&self.ops)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "a": self.a,
            "b": self.b,
            "changes": schema_diff::json(&self.ops),
        })
    }

    /// A migration that turns b's schema into a's.
    pub fn sql(&self) -> String {
        format!(
            "-- Turns the schema of branch {} into that of branch {} (wsctl branch diff {} {} --sql).\n{}",
            self.b,
            self.a,
            self.a,
            self.b,
            diff_sql::migration(&self.ops)
        )
    }
}

/// The branch `name` was made from.
pub async fn parent_of(b: &mut dyn Backend, name: &str) -> anyhow::Result<String> {
    if name == MAIN {
        bail!("main has no parent — name the branch to compare it with: `wsctl branch diff main OTHER`");
    }
    let parent = match b.branches().await? {
        Branches::Copies(metas) => metas.into_iter().find(|m| m.name == name).map(|m| m.parent),
        Branches::Timelines { branches, .. } => branches
            .into_iter()
            .find(|x| x.name == name)
            .map(|x| x.parent),
    };
    parent.with_context(|| format!("no branch named {name} — see `wsctl branch list`"))
}

async fn read_branch(
    dir: &StateDir,
    b: &mut dyn Backend,
    name: &str,
) -> anyhow::Result<catalog::Catalog> {
    if !b.has_branch(name).await? {
        bail!("no branch named {name} — see `wsctl branch list`");
    }
    let state = b.state();
    let (db, port) = state.branch_target(name);
    let why = || format!("reading the schema of branch {name} (database {db} on port {port})");
    let client = crate::db::connect(&pg_config_on(dir, state, &db, port)?)
        .await
        .with_context(why)?;
    catalog::read(&client).await.with_context(why)
}

/// Reads both schemas; any failure to read either side is an error, never an empty diff.
pub async fn branch_diff(
    dir: &StateDir,
    b: &mut dyn Backend,
    a: &str,
    other: Option<&str>,
) -> anyhow::Result<BranchDiff> {
    let other = match other {
        Some(o) => o.to_string(),
        None => parent_of(b, a).await?,
    };
    let left = read_branch(dir, b, a).await?;
    let right = read_branch(dir, b, &other).await?;
    if left.is_empty() || right.is_empty() {
        // Every workspace database has at least its schemas; none means we read the wrong place.
        bail!(
            "branch {} has no schema objects at all — is it a workspace database?",
            if left.is_empty() { a } else { other.as_str() }
        );
    }
    Ok(BranchDiff {
        a: a.to_string(),
        b: other,
        ops: schema_diff::diff(&left, &right),
    })
}
