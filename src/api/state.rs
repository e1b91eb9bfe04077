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

    pub async fn client(&self) -> Result<Object, ApiError> {
        Ok(self.pool.get().await?)
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
