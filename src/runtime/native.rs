//! Native: the stack's services are local processes under `wsctl supervise`
//! (`stack::supervisor`), their logs files in the state directory.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::{Down, Logs, NativeStatus, Purged, Runtime, StatusReport};
use crate::stack::control::stop_supervisor;
use crate::stack::state::{Lock, StateDir};
use crate::stack::{postgres, process};

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
        let owner = match postgres::RunAs::unprivileged()? {
            Some(user) => user.uid,
            // SAFETY: geteuid has no preconditions.
            None => unsafe { libc::geteuid() },
        };
        if let Some(pid) = process::postmaster_pid(&dir.pg_data(), owner) {
            process::signal(pid, libc::SIGINT);
            process::wait_gone(pid, Duration::from_secs(15));
            return Ok(Down::LeftoverPostmaster { pid });
        }
        Ok(Down::NotRunning)
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

    fn logs(&self, dir: &StateDir, service: Option<&str>, _follow: bool) -> anyhow::Result<Logs> {
        let files: Vec<PathBuf> = match service {
            Some(name) => {
                let path = dir.log(name);
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
                let mut all: Vec<PathBuf> = std::fs::read_dir(dir.logs())
                    .with_context(|| format!("no logs in {}", dir.logs().display()))?
                    .flatten()
                    .map(|e| e.path())
                    .collect();
                all.sort();
                all
            }
        };
        Ok(Logs::Files(files))
    }
}
