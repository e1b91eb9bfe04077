//! Output shared by several commands.

use crate::stack::state::{StackState, StateDir};

pub fn database_url_without_password(state: &StackState) -> String {
    format!(
        "postgres://{}@127.0.0.1:{}/{}",
        state.superuser, state.pg_port, state.database
    )
}

pub fn print_urls(dir: &StateDir, state: &StackState) {
    println!(
        "Workspace API  http://127.0.0.1:{}  (health: /health, docs: /openapi.json)",
        state.api_port
    );
    println!(
        "PostgreSQL     {}  (password in {}; `wsctl url` prints the full URL, `wsctl psql` connects)",
        database_url_without_password(state),
        dir.secrets_dir().join("pg-password").display()
    );
    if let Ok(url) = crate::engine::console::url(dir, state) {
        println!("Console        {url}  (the link logs you in; keep it private)");
    }
    println!("State          {}", dir.root.display());
}

/// How to reach each branch: whether the API serves it, its connection string (no
/// password) and its preview API. `branch list` and `status` print it.
pub fn access_table(
    rows: impl IntoIterator<Item = (String, crate::engine::database::Access)>,
) -> Table {
    let mut t = Table::new([
        "BRANCH",
        "API SERVES",
        "CONNECTION (no password)",
        "PREVIEW API",
    ]);
    for (name, a) in rows {
        t.row([
            name,
            if a.served { "yes" } else { "-" }.to_string(),
            a.connection,
            a.api_url.unwrap_or_else(|| "-".into()),
        ]);
    }
    t
}

/// The branch table in `status`, or why it is missing (the database is restarting).
pub fn print_branch_access(branches: &anyhow::Result<Vec<crate::engine::database::BranchAccess>>) {
    match branches {
        Ok(list) => {
            let rows = list.iter().map(|b| (b.name.clone(), b.access.clone()));
            print!("{}", access_table(rows).render());
        }
        Err(e) => println!("Branches: not listed — {e:#}"),
    }
}

/// The `branches` field of `status --json`: the list, or null and `branches_error`.
pub fn branch_access_json(
    branches: &anyhow::Result<Vec<crate::engine::database::BranchAccess>>,
) -> (serde_json::Value, serde_json::Value) {
    match branches {
        Ok(list) => (serde_json::json!(list), serde_json::Value::Null),
        Err(e) => (serde_json::Value::Null, serde_json::json!(format!("{e:#}"))),
    }
}

/// A plain text table: a header row, then rows, each column as wide as its widest cell (so
/// long names never push the others out of line), two spaces apart, no trailing blanks.
/// Widths count characters, not bytes (`→`, `é`). Every list the CLI prints goes through it,
/// so adding a column is adding a header and a cell.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Self {
        self.rows.push(cells.into_iter().map(Into::into).collect());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.headers.len()])
            .max()
            .unwrap_or(0);
        let cell = |row: &[String], i: usize| row.get(i).map_or("", String::as_str).to_string();
        let mut widths = vec![0; columns];
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            for (i, w) in widths.iter_mut().enumerate() {
                *w = (*w).max(cell(row, i).chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, w) in widths.iter().enumerate() {
                let c = cell(row, i);
                line.push_str(&c);
                line.extend(std::iter::repeat(' ').take(w - c.chars().count() + 2));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Prints the table, or `empty` (a sentence saying there is nothing, and how to make
    /// something) when it has no rows.
    pub fn print_or(&self, empty: &str) {
        if self.is_empty() {
            println!("{empty}");
        } else {
            print!("{}", self.render());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    /// The character column where `needle` starts in `line`.
    fn col(line: &str, needle: &str) -> usize {
        line[..line.find(needle).unwrap()].chars().count()
    }

    #[test]
    fn columns_stay_aligned_with_long_and_wide_cells() {
        let mut t = Table::new(["NAME", "KIND", "NOTE"]);
        t.row(["main", "branch", ""]);
        t.row(["a-very-long-preview-branch-name", "snapshot", "rolled back"]);
        t.row(["café", "branch", "ok"]);
        let out = t.render();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        for (line, kind) in lines.iter().zip(["KIND", "branch", "snapshot", "branch"]) {
            assert_eq!(col(line, kind), 33, "{out}");
        }
        assert_eq!(col(lines[0], "NOTE"), 43, "{out}");
        assert_eq!(col(lines[2], "rolled"), 43, "{out}");
        assert_eq!(col(lines[3], "ok"), 43, "{out}");
        assert!(out.lines().all(|l| l == l.trim_end()), "{out}");
        assert!(Table::new(["A"]).is_empty());
    }
}
