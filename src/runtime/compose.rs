//! Compose: the stack is one compose project (`stack::containers`) under the watcher; the
//! engine restarts containers, data lives in named volumes.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::plan::Plan;
use super::{native::Native, ComposeStatus, Down, Logs, Purged, Runtime, StatusReport};
use crate::stack::containers;
use crate::stack::control::stop_supervisor;
use crate::stack::neon::NeonState;
use crate::stack::ports;
use crate::stack::state::{
    BackendKind, ContainerState, Lock, Phase, StackState, StateDir, StateLock,
};

pub struct Compose {
    pub state: Box<StackState>,
    pub c: ContainerState,
}

#[async_trait::async_trait]
impl Runtime for Compose {
    /// Stops the watcher (which runs `compose down`), or the project directly when no
    /// watcher runs. Volumes are kept.
    async fn down(&self, dir: &StateDir) -> anyhow::Result<Down> {
        let started = Instant::now();
        if stop_supervisor(dir, "watcher", Duration::from_secs(90)).await? {
            return Ok(Down::Stopped {
                took: started.elapsed(),
            });
        }
        if self.c.containers()?.is_empty() {
            return Ok(Down::NotRunning);
        }
        containers::write_files(dir, &self.state)?;
        self.c
            .compose(dir, &self.state, &["down", "--remove-orphans"])?;
        Ok(Down::ContainersWithoutWatcher {
            project: self.c.project.clone(),
            took: started.elapsed(),
        })
    }

    fn purge(&self, dir: &StateDir) -> anyhow::Result<Purged> {
        containers::write_files(dir, &self.state)?;
        self.c
            .compose(dir, &self.state, &["down", "--volumes", "--remove-orphans"])?;
        std::fs::remove_dir_all(&dir.root)
            .with_context(|| format!("removing {}", dir.root.display()))?;
        Ok(Purged::Compose {
            project: self.c.project.clone(),
            root: dir.root.clone(),
        })
    }

    fn status(&self, dir: &StateDir) -> anyhow::Result<StatusReport> {
        let running = Lock::is_held(&dir.lock_file())?;
        let phase = if running {
            dir.load_status().map(|s| s.phase)
        } else {
            Some(Phase::Stopped)
        };
        let list = self.c.containers()?;
        let status = dir.load_status().filter(|_| running);
        let in_containers: Vec<String> = list
            .iter()
            .map(|x| containers::native_service(&x.service))
            .collect();
        let host = status
            .map(|s| s.services)
            .unwrap_or_default()
            .into_iter()
            // The one service the watcher runs on the host.
            .filter(|s| {
                s.name == crate::stack::console::SERVICE && !in_containers.contains(&s.name)
            })
            .collect();
        Ok(StatusReport::Compose(Box::new(ComposeStatus {
            state: (*self.state).clone(),
            c: self.c.clone(),
            running,
            phase,
            list,
            watcher_pid: dir.load_status().map_or(0, |s| s.supervisor_pid),
            host,
        })))
    }

    /// `compose logs`; the watcher's own log stays a file (`wsctl logs supervisor`).
    fn logs(
        &self,
        dir: &StateDir,
        service: Option<&str>,
        follow: bool,
        tail: Option<usize>,
    ) -> anyhow::Result<Logs> {
        // The watcher and the console run on the host and log to files.
        if matches!(service, Some("supervisor" | "console")) {
            return Native.logs(dir, service, follow, tail);
        }
        let mut cmd = self.c.compose_cmd(dir, &self.state);
        // Times on every line, so `--since` and the readable form work as natively.
        cmd.args(["logs", "--no-color", "--timestamps"]);
        if follow {
            cmd.arg("--follow");
        }
        // Following starts near the end, as natively; compose counts per container.
        if let Some(n) = tail.or(follow.then_some(10)) {
            cmd.arg(format!("--tail={n}"));
        }
        if let Some(s) = service {
            cmd.arg(containers::compose_service(s));
        }
        Ok(Logs::Compose {
            cmd: Box::new(cmd),
            what: self.c.compose.join(" "),
            project: self.c.project.clone(),
            services: service.map_or_else(
                || containers::expected_services(&self.state),
                |s| vec![s.to_string()],
            ),
        })
    }
}

/// Checks the engine, its images and the ports, and writes state.json and the compose files.
pub fn prepare(
    dir: &StateDir,
    plan: &Plan,
    lock: Option<&StateLock>,
) -> anyhow::Result<StackState> {
    let backend = plan.backend;
    if let Some(p) = plan.previous.as_ref().filter(|p| p.backend != backend) {
        bail!(
            "this stack runs the {} backend; it cannot change in place — `wsctl down --purge` first",
            format!("{:?}", p.backend).to_lowercase()
        );
    }
    let c = containers::detect(containers::project_name(dir))?;
    let missing = c.missing_images(&containers::images_for(backend));
    if !missing.is_empty() {
        bail!(
            "the {} engine has no {} — {}",
            c.engine,
            missing.join(", "),
            match backend {
                BackendKind::Postgres => "build them with compose/build-images.sh (after `cargo build --release`)",
                BackendKind::Neon => "load the images the Nix flake builds (`docker load`), or use the postgres variant (--backend postgres)",
            }
        );
    }
    let neon = match backend {
        BackendKind::Postgres => None,
        BackendKind::Neon => Some(neon_state(plan)?),
    };
    // Containers still up from a watcher that died hold their own ports: `up` adopts them.
    if c.containers()?.iter().all(|x| x.state != "running") {
        ports::ensure_free(plan.pg_port, "postgres", "--pg-port")?;
        ports::ensure_free(plan.api_port, "workspace-api", "--api-port")?;
        if let Some(n) = &neon {
            for (port, service) in published(n) {
                ports::ensure_free(port, &service, "WSCTL_NEON_PORTS=auto")?;
            }
        }
    }
    let state = plan.state(None, None, neon, Some(c));
    super::plan::save(dir, &state, lock)?;
    // A failed start leaves its phase behind; `up` must not read it as this start's outcome.
    let _ = std::fs::remove_file(dir.status_file());
    containers::write_files(dir, &state)?;
    Ok(state)
}

/// The previous run's Neon state (remote storage and safekeepers are fixed), or a new one.
fn neon_state(plan: &Plan) -> anyhow::Result<NeonState> {
    let placement = &plan.placement;
    if placement.listen_host.is_some() || placement.advertise_host.is_some() {
        bail!(
            "--listen-host and --advertise-host are for the process stack; with \
             --containers the compose file publishes the ports (on 127.0.0.1)"
        )
    }
    match plan.previous.as_ref().and_then(|p| p.neon.clone()) {
        Some(_) if placement.any() => bail!(
            "remote storage is fixed when a stack is created — `wsctl down --purge` first \
             to start over with another"
        ),
        Some(n) => {
            plan.check_safekeepers(&n)?;
            Ok(n)
        }
        None => {
            let mut n = plan.new_neon()?;
            placement.apply(&mut n)?;
            Ok(n)
        }
    }
}

/// The Neon ports a compose project publishes on 127.0.0.1 (the rest stay on its network).
fn published(n: &NeonState) -> Vec<(u16, String)> {
    let mut p = vec![
        (n.broker_port, "storage-broker".to_string()),
        (n.pageserver_http_port, "pageserver (http)".into()),
        (n.compute_http_port, "compute_ctl (http)".into()),
        (n.upcall_port, "upcall answerer".into()),
    ];
    p.extend((1..=n.safekeepers).map(|k| {
        (
            n.safekeeper_http_port + u16::from(k) - 1,
            format!("safekeeper {k} (http)"),
        )
    }));
    p
}
