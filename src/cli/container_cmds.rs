//! `up --containers`, the text of `status` for a stack in containers, and the hidden
//! `upcalls`. `prepare` answers `None` for a native stack, so the native `up` runs unchanged.

use std::path::PathBuf;

use anyhow::bail;

use super::UpArgs;
use crate::runtime::ComposeStatus;
use crate::stack::containers;
use crate::stack::neon::NeonState;
use crate::stack::ports;
use crate::stack::state::{BackendKind, StackState, StateDir};

/// Decides ports and the engine, checks the images, writes state.json and the compose files.
/// `None` when this is not (and is not becoming) a container stack.
#[allow(clippy::too_many_lines)] // issue 14: over 100 lines, still to split
pub(super) fn prepare(dir: &StateDir, args: &UpArgs) -> anyhow::Result<Option<StackState>> {
    let previous = dir.load()?;
    let was = previous.as_ref().and_then(|p| p.containers.clone());
    if !args.containers && was.is_none() {
        return Ok(None);
    }
    if let (Some(p), None) = (&previous, &was) {
        bail!(
            "{} holds a stack of local processes ({} backend); its data cannot move into \
             containers — `wsctl down --purge` it first, or pass another --state-dir",
            dir.root.display(),
            format!("{:?}", p.backend).to_lowercase()
        );
    }
    // Flags, then workspace-stack.toml, then what this stack used before, as in native mode.
    let file = crate::engine::up::file_config(dir)?;
    let backend = args
        .backend
        .or(file.backend)
        .or(previous.as_ref().map(|p| p.backend))
        .unwrap_or(BackendKind::Postgres);
    if let Some(p) = previous.as_ref().filter(|p| p.backend != backend) {
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
    let (pg_port, api_port) =
        crate::engine::up::chosen_ports((args.pg_port, args.api_port), &file, previous.as_ref());
    let neon = match backend {
        BackendKind::Postgres => None,
        BackendKind::Neon => Some(match previous.as_ref().and_then(|p| p.neon.clone()) {
            _ if args.placement.listen_host.is_some()
                || args.placement.advertise_host.is_some() =>
            {
                bail!(
                    "--listen-host and --advertise-host are for the process stack; with \
                     --containers the compose file publishes the ports (on 127.0.0.1)"
                )
            }
            Some(_) if args.placement.any() => bail!(
                "remote storage is fixed when a stack is created — `wsctl down --purge` first \
                 to start over with another"
            ),
            Some(n) => {
                if args.safekeepers.is_some_and(|k| k != n.safekeepers) {
                    bail!(
                        "this stack was created with {} safekeeper(s); the count cannot change \
                         in place — `wsctl down --purge` first to start over",
                        n.safekeepers
                    );
                }
                n
            }
            None => {
                let mut n = if std::env::var("WSCTL_NEON_PORTS").as_deref() == Ok("auto") {
                    NeonState::with_free_ports(args.safekeepers.unwrap_or(1))?
                } else {
                    NeonState::new(args.safekeepers.unwrap_or(1))
                };
                args.placement.apply(&mut n)?;
                n
            }
        }),
    };
    // Containers still up from a watcher that died hold their own ports: `up` adopts them.
    if c.containers()?.iter().all(|x| x.state != "running") {
        ports::ensure_free(pg_port, "postgres", "--pg-port")?;
        ports::ensure_free(api_port, "workspace-api", "--api-port")?;
        if let Some(n) = &neon {
            for (port, service) in published(n) {
                ports::ensure_free(port, &service, "WSCTL_NEON_PORTS=auto")?;
            }
        }
    }
    let state = StackState {
        version: 1,
        backend,
        pg_port,
        api_port,
        database: "workspace".into(),
        superuser: if neon.is_some() {
            "cloud_admin"
        } else {
            "postgres"
        }
        .into(),
        pg_bin: None,
        previews: previous
            .as_ref()
            .map(|p| p.previews.clone())
            .unwrap_or_default(),
        lifecycle: previous
            .as_ref()
            .map(|p| p.lifecycle.clone())
            .unwrap_or_default(),
        active_branch: previous.as_ref().and_then(|p| p.active_branch.clone()),
        neon_dir: None,
        neon,
        containers: Some(c),
    };
    dir.create()?;
    dir.secret("pg-password")?;
    dir.save(&state)?;
    // A failed start leaves its phase behind; `up` must not read it as this start's outcome.
    let _ = std::fs::remove_file(dir.status_file());
    containers::write_files(dir, &state)?;
    Ok(Some(state))
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

/// `wsctl status` of a stack in containers.
pub(super) fn print_status(dir: &StateDir, json: bool, s: &ComposeStatus) -> anyhow::Result<i32> {
    let (state, c, running, phase) = (&s.state, &s.c, s.running, s.phase);
    let (list, watcher_pid) = (&s.list, s.watcher_pid);
    if json {
        let services: Vec<serde_json::Value> = list
            .iter()
            .map(|x| {
                serde_json::json!({
                    "name": containers::native_service(&x.service), "container": x.name,
                    "pid": x.pid, "alive": x.state == "running", "state": x.state,
                    "health": x.health, "restarts": x.restarts,
                })
            })
            .collect();
        let out = serde_json::json!({
            "running": running,
            "phase": phase,
            "state_dir": dir.root,
            "backend": state.backend,
            "containers": {"compose": c.compose.join(" "), "engine": c.engine, "project": c.project},
            "api_url": format!("http://127.0.0.1:{}", state.api_port),
            "pg_port": state.pg_port,
            "database_url": super::print::database_url_without_password(state),
            "services": services,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(if running { 0 } else { 3 });
    }
    if !running {
        println!(
            "The stack is stopped ({}; compose project {}).",
            dir.root.display(),
            c.project
        );
        if list.iter().any(|x| x.state == "running") {
            println!("Its containers still run without a watcher: `wsctl up` adopts them, `wsctl down` stops them.");
        }
        return Ok(3);
    }
    println!(
        "Stack {:?} in containers (project {}, {}; watcher pid {})",
        phase.unwrap_or_default(),
        c.project,
        c.compose.join(" "),
        watcher_pid
    );
    for x in list {
        println!(
            "  {:22} {:20} pid {:>7}  restarts {}",
            containers::native_service(&x.service),
            x.describe(),
            x.pid.map_or("-".into(), |p| p.to_string()),
            x.restarts
        );
    }
    super::print::print_urls(dir, state);
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct UpcallArgs {
    /// Address to listen on
    #[arg(long, default_value = "0.0.0.0:1234")]
    listen: std::net::SocketAddr,
    /// Where generations are kept (must survive restarts: a volume)
    #[arg(long)]
    generations: PathBuf,
}

/// Serves re-attach and validate until SIGTERM or SIGINT.
pub(super) async fn upcalls(args: UpcallArgs) -> anyhow::Result<i32> {
    use tokio::signal::unix::{signal, SignalKind};
    crate::telemetry::init(crate::config::LogFormat::Json);
    let upcalls = crate::stack::upcall::Upcalls::load(args.generations)?;
    let handle = crate::stack::upcall::serve_on(args.listen, upcalls)?;
    tracing::info!(listen = %args.listen, "answering the pageserver's upcalls");
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    handle.stop(true).await;
    Ok(0)
}
