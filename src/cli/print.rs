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
