//! What `wsctl up` asked for, merged once (flags > `workspace-stack.toml` > the previous run
//! > defaults, in `engine::up::plan`), and what both runtimes' `prepare` do with it alike.

use std::path::PathBuf;

use anyhow::bail;

use crate::stack::neon::{NeonState, Placement, S3Storage};
use crate::stack::state::{BackendKind, ContainerState, StackState, StateDir, StateLock};

/// The Neon placement flags (remote storage, listen and advertised hosts), as given.
#[derive(Debug, Clone, Default)]
pub struct NeonPlacement {
    pub remote_storage: Option<S3Storage>,
    pub listen_host: Option<String>,
    pub advertise_host: Option<String>,
}

impl NeonPlacement {
    pub fn any(&self) -> bool {
        self.remote_storage.is_some() || self.listen_host.is_some() || self.advertise_host.is_some()
    }

    /// Applies the flags to a new stack's Neon state.
    pub fn apply(&self, n: &mut NeonState) -> anyhow::Result<()> {
        n.placement = Placement::new(self.listen_host.clone(), self.advertise_host.clone())?;
        n.remote_storage = self.remote_storage.clone();
        Ok(())
    }
}

/// The settings of the stack `up` is about to start.
#[derive(Debug)]
pub struct Plan {
    /// state.json as the last run left it.
    pub previous: Option<StackState>,
    /// The stack's name (engine::target::stack_name).
    pub name: String,
    pub backend: BackendKind,
    pub pg_port: u16,
    pub api_port: u16,
    /// A compose project (`--containers`, or the previous run was one).
    pub containers: bool,
    /// --pg-bin, else WSCTL_PG_BIN, else the file's `pg_bin`.
    pub pg_bin: Option<PathBuf>,
    /// --neon-dir, else the previous run's.
    pub neon_dir: Option<PathBuf>,
    pub safekeepers: Option<u8>,
    /// `--ports auto` / `ports = "auto"`: a new Neon stack takes free ports too.
    pub ports_auto: bool,
    pub placement: NeonPlacement,
    /// --rate-limit-max, else the file's `rate_limit_max`, else the previous run's.
    pub rate_limit_max: Option<u32>,
}

impl Plan {
    /// A safekeeper count other than the one the stack was created with is refused.
    pub fn check_safekeepers(&self, n: &NeonState) -> anyhow::Result<()> {
        if self.safekeepers.is_some_and(|k| k != n.safekeepers) {
            bail!(
                "this stack was created with {} safekeeper(s); the count cannot change \
                 in place — `wsctl down --purge` first to start over",
                n.safekeepers
            );
        }
        Ok(())
    }

    /// A new stack's Neon state: fixed ports, or free ones with `--ports auto` (or
    /// WSCTL_NEON_PORTS=auto).
    pub fn new_neon(&self) -> anyhow::Result<NeonState> {
        let count = self.safekeepers.unwrap_or(1);
        if self.ports_auto || std::env::var("WSCTL_NEON_PORTS").as_deref() == Ok("auto") {
            NeonState::with_free_ports(count)
        } else {
            Ok(NeonState::new(count))
        }
    }

    /// state.json for this run; previews, the active branch and the branches' protection,
    /// expiry and history carry over.
    pub fn state(
        &self,
        pg_bin: Option<PathBuf>,
        neon_dir: Option<PathBuf>,
        neon: Option<NeonState>,
        containers: Option<ContainerState>,
    ) -> StackState {
        let previous = self.previous.as_ref();
        StackState {
            version: 1,
            name: self.name.clone(),
            backend: self.backend,
            pg_port: self.pg_port,
            api_port: self.api_port,
            database: "workspace".into(),
            superuser: if neon.is_some() {
                "cloud_admin"
            } else {
                "postgres"
            }
            .into(),
            pg_bin,
            active_branch: previous.and_then(|p| p.active_branch.clone()),
            previews: previous.map(|p| p.previews.clone()).unwrap_or_default(),
            lifecycle: previous.map(|p| p.lifecycle.clone()).unwrap_or_default(),
            neon_dir,
            neon,
            containers,
            rate_limit_max: self.rate_limit_max,
            console_port: previous.and_then(|p| p.console_port),
        }
    }
}

/// The state directory with its password, and state.json in it. `lock`: state.json's lock,
/// which `up` took before it read the previous run's state.json; a first `up` has no
/// directory to lock before this (and no earlier state to lose), so it locks here.
pub fn save(dir: &StateDir, state: &StackState, lock: Option<&StateLock>) -> anyhow::Result<()> {
    dir.create()?;
    dir.secret("pg-password")?;
    match lock {
        Some(lock) => dir.save(state, lock),
        None => dir.save(state, &dir.lock_state()?),
    }
}

/// A stack's name: workspace-stack.toml's `name`, else the previous run's, else the project
/// directory's (the state directory's parent, where workspace-stack.toml is read from).
pub fn stack_name(
    dir: &StateDir,
    from_file: Option<String>,
    previous: Option<&StackState>,
) -> String {
    from_file
        .or(previous.map(|p| p.name.clone()).filter(|n| !n.is_empty()))
        .unwrap_or_else(|| {
            dir.root
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "workspace".into())
        })
}

/// `--ports auto`: a free port for each of PostgreSQL and the API that nothing fixed yet (a
/// flag, the file, or the previous run — which is how the choice sticks across down/up). Two
/// picks in a row can return the same port; the second is picked again.
pub fn auto_ports(pg: Option<u16>, api: Option<u16>) -> anyhow::Result<(u16, u16)> {
    use crate::stack::ports::free_port;
    let pg = match pg {
        Some(p) => p,
        None => free_port()?,
    };
    if let Some(api) = api {
        return Ok((pg, api));
    }
    loop {
        let api = free_port()?;
        if api != pg {
            return Ok((pg, api));
        }
    }
}
