//! Native: the stack's services are local processes under `wsctl supervise`
//! (`runtime::supervisor`), their log files in the state directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::plan::Plan;
use super::{Down, Logs, NativeStatus, Purged, Runtime, StatusReport};
use crate::stack::control::stop_supervisor;
use crate::stack::neon::{NeonBinaries, NeonState};
use crate::stack::state::{BackendKind, Lock, StackState, StateDir, StateLock};
use crate::stack::{ports, postgres, process};

pub struct Native;

#[async_trait::async_trait]
impl Runtime for Native {
    async fn down(&self, dir: &StateDir) -> anyhow::Result<Down> {
        let started = Instant::now();
        if stop_supervisor(dir, "supervisor", Duration::from_secs(40)).await? {
            return Ok(Down::Stopped {
                took: started.elapsed(),
            });
        }
        // Nothing supervises; a PostgreSQL may still be left from a crash.
        let data_dirs = match dir.load().ok().flatten() {
            Some(state) => state.postmaster_dirs(dir),
            None => vec![dir.pg_data()],
        };
        match stop_leftovers(&data_dirs)?.first() {
            Some(&pid) => Ok(Down::LeftoverPostmaster { pid }),
            None => Ok(Down::NotRunning),
        }
    }

    fn purge(&self, dir: &StateDir) -> anyhow::Result<Purged> {
        if !dir.root.exists() {
            return Ok(Purged::Native { root: None });
        }
        std::fs::remove_dir_all(&dir.root)
            .with_context(|| format!("removing {}", dir.root.display()))?;
        Ok(Purged::Native {
            root: Some(dir.root.clone()),
        })
    }

    fn status(&self, dir: &StateDir) -> anyhow::Result<StatusReport> {
        let state = dir.load()?;
        let running = Lock::is_held(&dir.lock_file())?;
        let status = dir.load_status();
        Ok(StatusReport::Native(Box::new(NativeStatus {
            state,
            running,
            status,
        })))
    }

    fn logs(
        &self,
        dir: &StateDir,
        service: Option<&str>,
        _follow: bool,
        _tail: Option<usize>,
    ) -> anyhow::Result<Logs> {
        let files: Vec<PathBuf> = match service {
            Some(name) => {
                let path = dir.log(name);
                if !dir.logs().exists() {
                    return Err(crate::stack::state::NotRunning {
                        dir: dir.root.clone(),
                    }
                    .into());
                }
                if !path.exists() {
                    let known: Vec<String> = std::fs::read_dir(dir.logs())
                        .into_iter()
                        .flatten()
                        .flatten()
                        .filter_map(|e| {
                            e.file_name()
                                .to_str()?
                                .strip_suffix(".log")
                                .map(str::to_string)
                        })
                        .collect();
                    bail!(
                        "no log for {name:?}; services with logs: {}",
                        known.join(", ")
                    );
                }
                vec![path]
            }
            None => {
                // No logs yet: the stack never ran here.
                let Ok(entries) = std::fs::read_dir(dir.logs()) else {
                    return Err(crate::stack::state::NotRunning {
                        dir: dir.root.clone(),
                    }
                    .into());
                };
                let mut all: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
                all.sort();
                all
            }
        };
        Ok(Logs::Files(files))
    }
}

/// Stops the postmasters of these data directories that run without a supervisor (see
/// [`process::stop_leftover_postmaster`]); returns their pids.
fn stop_leftovers(data_dirs: &[PathBuf]) -> anyhow::Result<Vec<u32>> {
    let owner = match postgres::RunAs::unprivileged()? {
        Some(user) => user.uid,
        // SAFETY: geteuid has no preconditions.
        None => unsafe { libc::geteuid() },
    };
    Ok(data_dirs
        .iter()
        .filter_map(|d| process::stop_leftover_postmaster(d, owner, Duration::from_secs(15)))
        .collect())
}

/// Finds the binaries the plan names, checks ports and paths, and writes state.json.
pub fn prepare(
    dir: &StateDir,
    plan: &Plan,
    lock: Option<&StateLock>,
) -> anyhow::Result<StackState> {
    // A postmaster of this stack that outlived a killed supervisor holds its port: the stack
    // is not running (up holds the lock), so it is stopped, not reported as a busy port.
    if let Some(previous) = &plan.previous {
        // Held while stopping, so a supervisor another `up` just started is never taken for
        // an orphan (it holds the lock before it starts a postmaster).
        if let Some(_free) = crate::stack::state::Lock::try_acquire(&dir.lock_file())? {
            stop_leftovers(&previous.postmaster_dirs(dir))?;
        }
    }
    let state = match plan.backend {
        BackendKind::Postgres => {
            let bins = postgres::PgBinaries::discover(plan.pg_bin.as_deref())?;
            plan.state(Some(bins.bindir), None, None, None)
        }
        BackendKind::Neon => {
            let bins = NeonBinaries::discover(plan.neon_dir.as_deref())?;
            for program in crate::stack::neon::PROGRAMS {
                crate::stack::trust::check(&bins.program(program), "Neon program")?;
            }
            let neon = neon_state(plan)?;
            for (port, service) in neon.ports() {
                ports::ensure_free(port, &service, "a different port in state.json")?;
            }
            let neon_dir = bins
                .bin
                .parent()
                .map_or(bins.bin.clone(), |p| p.to_path_buf());
            plan.state(None, Some(neon_dir), Some(neon), None)
        }
    };
    ports::ensure_free(state.pg_port, "postgres", "--pg-port")?;
    ports::ensure_free(state.api_port, "workspace-api", "--api-port")?;
    if let Some(user) = postgres::RunAs::unprivileged()? {
        check_reachable(&dir.root, user)?;
    }
    check_socket_path(dir, state.pg_port)?;
    super::plan::save(dir, &state, lock)?;
    Ok(state)
}

/// The previous run's Neon state (placement and safekeepers are fixed), or a new one.
fn neon_state(plan: &Plan) -> anyhow::Result<NeonState> {
    match plan.previous.as_ref().and_then(|p| p.neon.clone()) {
        Some(n) => {
            if plan.placement.any() {
                bail!(
                    "remote storage and listen/advertise hosts are fixed when a stack is \
                     created — `wsctl down --purge` first to start over with new ones"
                );
            }
            plan.check_safekeepers(&n)?;
            Ok(n)
        }
        None => {
            let mut n = plan.new_neon()?;
            plan.placement.apply(&mut n)?;
            Ok(n)
        }
    }
}

/// PostgreSQL refuses a socket path longer than sun_path (108 bytes with the NUL).
fn check_socket_path(dir: &StateDir, pg_port: u16) -> anyhow::Result<()> {
    let socket = dir.pg_socket_dir().join(format!(".s.PGSQL.{pg_port}"));
    if socket.as_os_str().len() > 107 {
        bail!(
            "the state directory's path is too long for PostgreSQL's Unix socket ({} is {} \
             bytes, at most 107) — pass a shorter --state-dir",
            socket.display(),
            socket.as_os_str().len()
        );
    }
    Ok(())
}

/// PostgreSQL runs as another account when we are root; every directory above its data must
/// let that account through.
fn check_reachable(root: &Path, user: postgres::RunAs) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    for dir in root.ancestors().skip(1) {
        let Ok(meta) = std::fs::metadata(dir) else {
            continue;
        };
        let mode = meta.mode();
        let ok = mode & 0o001 != 0
            || (meta.uid() == user.uid && mode & 0o100 != 0)
            || (meta.gid() == user.gid && mode & 0o010 != 0);
        if !ok {
            bail!(
                "PostgreSQL runs as uid {} (it refuses root) and cannot enter {} — pass --state-dir \
                 under a directory it can reach (for example /var/tmp/workspace-stack)",
                user.uid,
                dir.display()
            );
        }
    }
    Ok(())
}
