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
/// workspace-stack.toml's `console_port`, the last run's port, or a free one. Saves state.json.
pub fn settle(
    dir: &StateDir,
    state: &mut StackState,
    off: bool,
    flag: Option<u16>,
) -> anyhow::Result<()> {
    state.console_port = if off || state.containers.is_some() {
        None
    } else {
        let file = super::up::file_config(dir)?;
        let port = match flag.or(file.console_port).or(state.console_port) {
            Some(p) => p,
            // A free port rather than a fixed default: several stacks (and test runs) on one
            // machine each get a console without asking.
            None => ports::free_port()?,
        };
        ports::ensure_free(port, SERVICE, "--console-port")?;
        dir.secret(TOKEN)?;
        Some(port)
    };
    dir.save(state)
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
