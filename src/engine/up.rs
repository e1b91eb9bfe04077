//! What `wsctl up` decides before anything runs: the stack's settings from flags, the
//! optional `workspace-stack.toml` and the previous run, in that order.

use std::path::PathBuf;

use anyhow::Context;
use serde::Deserialize;

use crate::stack::state::{BackendKind, StackState, StateDir, CONFIG_FILE};

/// `workspace-stack.toml`: optional defaults; flags win over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub backend: Option<BackendKind>,
    pub pg_port: Option<u16>,
    pub api_port: Option<u16>,
    pub pg_bin: Option<PathBuf>,
    /// How many automatic snapshots to keep (the newest; default 10).
    pub snapshot_retention: Option<usize>,
}

/// --pg-port/--api-port, else workspace-stack.toml, else the last run's, else 5433 and 3200.
pub fn chosen_ports(
    flags: (Option<u16>, Option<u16>),
    file: &FileConfig,
    previous: Option<&StackState>,
) -> (u16, u16) {
    let pg = flags.0.or(file.pg_port).or(previous.map(|p| p.pg_port));
    let api = flags.1.or(file.api_port).or(previous.map(|p| p.api_port));
    (pg.unwrap_or(5433), api.unwrap_or(3200))
}

pub fn file_config(dir: &StateDir) -> anyhow::Result<FileConfig> {
    let Some(path) = dir.root.parent().map(|p| p.join(CONFIG_FILE)) else {
        return Ok(FileConfig::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            // It can name the programs wsctl runs (pg_bin): another account's file must not.
            crate::stack::trust::check(&path, "config file")?;
            toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileConfig::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
