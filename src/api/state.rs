//! What every handler shares: the pool, the schema gate, and start time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use deadpool_postgres::{Object, Pool};

use super::error::ApiError;
use crate::db::migrations::{self, SchemaState};

pub struct AppState {
    pub pool: Pool,
    pub started: Instant,
    /// Set once the database is seen at the latest migration. Schemas only move forward while
    /// the API runs, so after that no write pays for the check again.
    schema_current: AtomicBool,
}

impl AppState {
    pub fn new(pool: Pool) -> Self {
        AppState {
            pool,
            started: Instant::now(),
            schema_current: AtomicBool::new(false),
        }
    }

    /// A pooled connection. While `wsctl` copies or restores the database (branch, snapshot,
    /// rollback) connections are refused for a moment; that is waited out here, up to 10 s,
    /// so clients see a slower answer rather than an error.
    pub async fn client(&self) -> Result<Object, ApiError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match self.pool.get().await {
                Ok(c) => return Ok(c),
                Err(e) if std::time::Instant::now() < deadline && momentary(&e) => {
                    tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Runs `work` on a pooled connection, again on a fresh one when the connection was ended
    /// under it (a branch or snapshot copy ends sessions for an instant), for up to 10 s.
    /// Safe for writes: a session ended mid-statement rolls the statement back.
    pub async fn retry<T, F, Fut>(&self, mut work: F) -> Result<T, ApiError>
    where
        F: FnMut(Object) -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let client = self.client().await?;
            match work(client).await {
                Err(ApiError::Momentary(_)) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                }
                Err(ApiError::Momentary(m)) => return Err(ApiError::Unavailable(m)),
                other => return other,
            }
        }
    }

    /// Writes are refused on a database that is not at this binary's latest migration: the API
    /// never migrates on its own, it names the command that does.
    pub async fn ensure_writable(&self, client: &Object) -> Result<(), ApiError> {
        if self.schema_current.load(Ordering::Relaxed) {
            return Ok(());
        }
        let state = migrations::state(client)
            .await
            .map_err(|e| ApiError::Unavailable(format!("reading the schema version: {e:#}")))?;
        match state {
            SchemaState::Current => {
                self.schema_current.store(true, Ordering::Relaxed);
                Ok(())
            }
            SchemaState::Behind { applied, latest } => Err(ApiError::SchemaOutdated(format!(
                "the database schema is at migration {applied} but this API needs {latest}; \
                 writes are refused until it is migrated — run `wsctl init` (or `workspace-api migrate`)"
            ))),
            SchemaState::Ahead { applied, latest } => Err(ApiError::SchemaOutdated(format!(
                "the database schema is at migration {applied}, newer than this API knows \
                 ({latest}); upgrade workspace-api before writing"
            ))),
        }
    }
}

/// Errors that a database copy or restore causes for an instant: connections refused, the
/// database renamed away, sessions ended by an administrator.
fn momentary(e: &deadpool_postgres::PoolError) -> bool {
    use tokio_postgres::error::SqlState;
    let deadpool_postgres::PoolError::Backend(e) = e else {
        return false;
    };
    match e.code() {
        Some(code) => [
            SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::INVALID_CATALOG_NAME,
        ]
        .contains(code),
        None => false,
    }
}
