//! The web console's place in a stack (`src/console` serves it): its port, chosen like the
//! others' and kept in state.json, and its token, a per-stack secret (0600) that the printed
//! URL carries and the console exchanges for a cookie.

use crate::stack::ports;
use crate::stack::state::{StackState, StateDir};

/// The secret's file name in the state directory's `secrets/`.
pub const TOKEN: &str = "console-token";
pub use crate::stack::console::SERVICE;

/// `up`'s choice for the console: none with `--no-console` (and, for now, for a compose
/// project, where `wsctl console --serve` runs it on the host instead); else --console-port,
/// workspace-stack.toml's `console_port`, the last run's port, or a free one. Saves it to
/// state.json (under its lock, as state.json is now).
pub fn settle(
    dir: &StateDir,
    state: &mut StackState,
    off: bool,
    flag: Option<u16>,
) -> anyhow::Result<()> {
    // In container mode too: the watcher runs it on the host (runtime::host_console).
    state.console_port = if off {
        None
    } else {
        let file = super::up::file_config(dir)?;
        let port = match flag.or(file.console_port).or(state.console_port) {
            Some(p) => p,
            None => default_port(dir, state)?,
        };
        ports::ensure_free(port, SERVICE, "--console-port")?;
        dir.secret(TOKEN)?;
        Some(port)
    };
    let port = state.console_port;
    dir.update(|current| {
        current.console_port = port;
        Ok(())
    })
}

/// The first port free now, from a place in 20000–29999 that the state directory's path
/// picks, that none of the stack's own services will take later. Not one fixed default:
/// several stacks (and test runs) on one machine each get a console without asking. The same
/// for the same directory: two `up`s racing on one stack choose alike, and a stack keeps its
/// console URL across `down --purge`. Below Linux's ephemeral range, so no outgoing
/// connection holds it. The ports in state.json are not listened on yet when `up` chooses, so
/// they are skipped by name (Neon's safekeepers take runs of consecutive ports).
fn default_port(dir: &StateDir, state: &StackState) -> anyhow::Result<u16> {
    use sha2::Digest;
    const FIRST: u16 = 20_000;
    const SPAN: u16 = 10_000;
    let mut taken = vec![state.pg_port, state.api_port];
    taken.extend(state.previews.iter().map(|p| p.port));
    if let Some(n) = &state.neon {
        taken.extend(n.ports().into_iter().map(|(port, _)| port));
        for b in &n.branches {
            taken.extend([b.pg_port, b.http_port, b.internal_port]);
        }
    }
    let digest = sha2::Sha256::digest(dir.root.as_os_str().as_encoded_bytes());
    let start = u16::from_be_bytes([digest[0], digest[1]]) % SPAN;
    (0..SPAN)
        .map(|i| FIRST + (start + i) % SPAN)
        .find(|p| !taken.contains(p) && std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .ok_or_else(|| anyhow::anyhow!("no free port for the console — pass --console-port"))
}

/// The URL that logs a browser in: the console's address with the stack's token.
pub fn login_url(dir: &StateDir, port: u16) -> anyhow::Result<String> {
    Ok(format!(
        "http://127.0.0.1:{port}/login?token={}",
        dir.secret(TOKEN)?
    ))
}

/// The printed URL, or why there is none.
pub fn url(dir: &StateDir, state: &StackState) -> anyhow::Result<String> {
    match state.console_port {
        Some(port) => login_url(dir, port),
        None if state.containers.is_some() => anyhow::bail!(
            "a compose stack's console runs on the host: `wsctl console --serve` (it prints its URL)"
        ),
        None => anyhow::bail!(
            "this stack runs without the console (`up --no-console`) — `wsctl down` and `wsctl up` \
             to have one, or `wsctl console --serve` to run it in this terminal"
        ),
    }
}
