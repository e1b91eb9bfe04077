//! `wsctl ls` and `wsctl down --all`: every stack in this user's registry, as it is now.

use std::path::PathBuf;

use serde::Serialize;

use super::registry;
use super::target::Target;
use crate::runtime::{self, Down};
use crate::stack::state::{Lock, StateDir};

/// A stack as `wsctl ls` shows it.
#[derive(Debug, Serialize)]
pub struct Listed {
    pub name: String,
    pub dir: PathBuf,
    pub backend: String,
    pub runtime: &'static str,
    pub running: bool,
    pub api_url: Option<String>,
    pub database_url: Option<String>,
    pub previews: Vec<String>,
}

fn listed(dir: &StateDir) -> Listed {
    let t = Target::of(dir);
    let state = dir.load().ok().flatten();
    Listed {
        name: t.name,
        dir: t.dir,
        backend: format!("{:?}", t.backend).to_lowercase(),
        runtime: if t.containers {
            "containers"
        } else {
            "processes"
        },
        running: Lock::is_held(&dir.lock_file()).unwrap_or(false),
        api_url: state
            .as_ref()
            .map(|s| format!("http://127.0.0.1:{}", s.api_port)),
        database_url: state.as_ref().map(|s| {
            format!(
                "postgres://{}@127.0.0.1:{}/{}",
                s.superuser, s.pg_port, s.database
            )
        }),
        previews: state
            .iter()
            .flat_map(|s| s.previews.iter())
            .map(|p| format!("{} http://127.0.0.1:{}", p.branch, p.port))
            .collect(),
    }
}

/// Every registered stack that still exists.
pub fn list() -> anyhow::Result<Vec<Listed>> {
    Ok(registry::dirs()?
        .into_iter()
        .map(|root| listed(&StateDir { root }))
        .collect())
}

/// `down --all`: stops every registered stack that runs; each result with its stack.
pub async fn down_all() -> anyhow::Result<Vec<(Listed, anyhow::Result<Down>)>> {
    let mut out = Vec::new();
    for stack in list()?.into_iter().filter(|s| s.running) {
        let dir = StateDir {
            root: stack.dir.clone(),
        };
        let result = runtime::for_dir(&dir).down(&dir).await;
        out.push((stack, result));
    }
    Ok(out)
}
