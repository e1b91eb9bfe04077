//! How wsctl, the API and the health suite reach a stack's database: connection settings and
//! URLs for main and each branch. The native postgres backend is reached through the Unix socket
//! in the private state directory (never TCP, see `database_url`); Neon computes and containers
//! only listen on TCP.

use std::time::Duration;

use super::state::{BackendKind, StackState, StateDir};

/// The connection URL of the stack's database (contains the password). On the native
/// postgres backend it names the Unix socket in the state directory, never TCP: a local user
/// who took the port while PostgreSQL restarts must not be the one asking for the password.
pub fn database_url(dir: &StateDir, state: &StackState) -> anyhow::Result<String> {
    let password = dir.read_secret("pg-password")?;
    Ok(url_for(
        dir,
        state,
        &password,
        state.api_pg_port(),
        &state.api_database(),
    ))
}

/// The connection string of branch `name` (see [`StackState::branch_target`]).
pub fn branch_url(dir: &StateDir, state: &StackState, name: &str) -> anyhow::Result<String> {
    let password = dir.read_secret("pg-password")?;
    let (db, port) = state.branch_target(name);
    Ok(url_for(dir, state, &password, port, &db))
}

pub(crate) fn url_for(
    dir: &StateDir,
    state: &StackState,
    password: &str,
    port: u16,
    db: &str,
) -> String {
    let host = match uses_socket(state) {
        // libpq and tokio-postgres read a percent-encoded host starting with `/` as a socket
        // directory.
        true => dir
            .pg_socket_dir()
            .as_os_str()
            .as_encoded_bytes()
            .iter()
            .map(|&b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>(),
        false => "127.0.0.1".to_string(),
    };
    // An empty password leaves it out (a URL to show, not to use as is).
    let auth = match password {
        "" => state.superuser.clone(),
        p => format!("{}:{p}", state.superuser),
    };
    format!("postgres://{auth}@{host}:{port}/{db}")
}

/// A branch's connection string without the password, for listings: over TCP, as the
/// PostgreSQL line of `up` and `status` shows main (the private socket `wsctl url` uses is
/// only for this machine's root and the database account).
pub fn branch_url_shown(state: &StackState, name: &str) -> String {
    let (db, port) = state.branch_target(name);
    format!("postgres://{}@127.0.0.1:{port}/{db}", state.superuser)
}

/// The native postgres backend talks over its private socket; Neon computes and containers
/// only listen on TCP.
fn uses_socket(state: &StackState) -> bool {
    state.backend == BackendKind::Postgres && state.containers.is_none()
}

pub fn pg_config(
    dir: &StateDir,
    state: &StackState,
    dbname: &str,
) -> anyhow::Result<tokio_postgres::Config> {
    pg_config_on(dir, state, dbname, state.pg_port)
}

/// The same on another port (a Neon branch's compute).
pub fn pg_config_on(
    dir: &StateDir,
    state: &StackState,
    dbname: &str,
    port: u16,
) -> anyhow::Result<tokio_postgres::Config> {
    let mut c = tokio_postgres::Config::new();
    if uses_socket(state) {
        c.host_path(dir.pg_socket_dir());
    } else {
        c.host("127.0.0.1");
    }
    c.port(port)
        .user(&state.superuser)
        .password(dir.read_secret("pg-password")?)
        .dbname(dbname)
        .connect_timeout(Duration::from_secs(5));
    Ok(c)
}
