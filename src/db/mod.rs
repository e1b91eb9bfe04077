//! Database access: the connection pool, queries per table, and embedded migrations. Used by
//! both the API and `wsctl`.

// Nothing on request or stored data may panic: no unwrap/expect outside tests (clippy.toml
// allows them in tests), and rows are read with `try_get`.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod auth_guard;
pub mod catalog;
pub mod categories;
pub mod diff_sql;
pub mod items;
pub mod migration_files;
pub mod migrations;
pub mod schema_diff;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::NoTls;

pub use deadpool_postgres::Pool as PgPool;

/// How to reach the database and how hard to lean on it.
#[derive(Clone)]
pub struct DatabaseSettings {
    pub config: tokio_postgres::Config,
    pub pool_max: usize,
    pub connect_timeout: Duration,
    /// How long a request waits for a free connection before it is told the database is busy.
    pub wait_timeout: Duration,
    pub statement_timeout: Duration,
}

impl DatabaseSettings {
    /// `host:port/dbname as user`, never the password: safe to log.
    pub fn describe(&self) -> String {
        describe(&self.config)
    }
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("target", &self.describe())
            .field("pool_max", &self.pool_max)
            .finish()
    }
}

pub fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(s) => s.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{host}:{port}/{} as {}",
        config.get_dbname().unwrap_or("postgres"),
        config.get_user().unwrap_or("postgres")
    )
}

/// Builds the pool. No connection is made here: the API must start (and answer `/healthz`)
/// even while the database is down, and connects on first use.
pub fn pool(settings: &DatabaseSettings) -> anyhow::Result<Pool> {
    let mut config = settings.config.clone();
    config.connect_timeout(settings.connect_timeout);
    let options = format!(
        "-c statement_timeout={} -c search_path=workspace,public",
        settings.statement_timeout.as_millis()
    );
    config.options(&options);
    if config.get_application_name().is_none() {
        config.application_name("workspace-api");
    }
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(Pool::builder(manager)
        .max_size(settings.pool_max)
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(settings.wait_timeout),
            create: Some(settings.connect_timeout),
            recycle: Some(settings.connect_timeout),
        })
        .build()?)
}

/// A single connection to the stack's own database (migrations, admin work), with its driver
/// task. The password itself is never sent (a cleartext request is refused); over the native
/// backend's Unix socket only SCRAM-SHA-256 is answered. Over TCP (Neon computes, containers)
/// an MD5 request is answered too, because Neon's compute_ctl writes `md5` into the compute's
/// pg_hba.conf; with a 32-character random password the MD5 exchange gives a port squatter
/// nothing it could use.
pub async fn connect(config: &tokio_postgres::Config) -> anyhow::Result<tokio_postgres::Client> {
    let policy = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Unix(_)) => auth_guard::AuthPolicy::ScramOnly,
        _ => auth_guard::AuthPolicy::NoCleartext,
    };
    connect_with(config, policy).await
}

/// The same for a server the user named (an import source, `--database-url`): SCRAM or MD5
/// (older servers use it), never cleartext.
pub async fn connect_user(
    config: &tokio_postgres::Config,
) -> anyhow::Result<tokio_postgres::Client> {
    connect_with(config, auth_guard::AuthPolicy::NoCleartext).await
}

async fn connect_with(
    config: &tokio_postgres::Config,
    policy: auth_guard::AuthPolicy,
) -> anyhow::Result<tokio_postgres::Client> {
    use tokio_postgres::config::Host;
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let host = config
        .get_hosts()
        .first()
        .cloned()
        .unwrap_or_else(|| Host::Tcp("localhost".into()));
    let attempt = async {
        match host {
            Host::Tcp(name) => {
                let stream = tokio::net::TcpStream::connect((name.as_str(), port))
                    .await
                    .map_err(|e| e.to_string())?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                handshake(auth_guard::Guarded::new(stream, policy), config).await
            }
            Host::Unix(dir) => {
                let socket = dir.join(format!(".s.PGSQL.{port}"));
                let stream = tokio::net::UnixStream::connect(&socket)
                    .await
                    .map_err(|e| format!("{}: {e}", socket.display()))?;
                handshake(auth_guard::Guarded::new(stream, policy), config).await
            }
        }
    };
    let timeout = config
        .get_connect_timeout()
        .copied()
        .unwrap_or(Duration::from_secs(30));
    let why = match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(client)) => return Ok(client),
        Ok(Err(e)) => e,
        Err(_) => format!("no answer within {timeout:?}"),
    };
    anyhow::bail!(
        "cannot connect to PostgreSQL at {}: {why}",
        describe(config)
    )
}

/// Startup and authentication over an open stream; the connection's driver runs as a task.
async fn handshake<S>(
    stream: S,
    config: &tokio_postgres::Config,
) -> Result<tokio_postgres::Client, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (client, connection) = config.connect_raw(stream, NoTls).await.map_err(|e| {
        // "db error" alone says nothing; the server's message says what is wrong.
        match e.as_db_error() {
            Some(d) => d.message().to_string(),
            None => {
                let source = std::error::Error::source(&e).map(|s| format!(": {s}"));
                format!("{e}{}", source.unwrap_or_default())
            }
        }
    })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "database connection closed");
        }
    });
    Ok(client)
}

/// The base tables of the `workspace` schema, by name.
pub async fn workspace_tables(
    client: &tokio_postgres::Client,
) -> Result<Vec<String>, tokio_postgres::Error> {
    client
        .query(
            "SELECT table_name::text FROM information_schema.tables
              WHERE table_schema = 'workspace' AND table_type = 'BASE TABLE' ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect()
}

/// Escapes `%`, `_` and `\` so user text is matched literally inside an ILIKE pattern.
pub fn like_pattern(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_pattern_is_literal() {
        assert_eq!(super::like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
