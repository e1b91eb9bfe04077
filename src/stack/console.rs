//! The web console as a supervised service: `wsctl console --serve` on the stack's state
//! directory. It runs as the stack's owner, not the database account: it acts for the CLI
//! (branches, rollback, the supervisor's signals), and it only listens on 127.0.0.1 behind
//! the stack's token.

use super::process::ServiceSpec;
use super::state::{StackState, StateDir};

/// Its service name in status.json and its log's name.
pub const SERVICE: &str = "console";

/// The console's service, when the stack has one (`up` without `--no-console`).
pub fn spec(dir: &StateDir, state: &StackState) -> anyhow::Result<Option<ServiceSpec>> {
    let Some(port) = state.console_port else {
        return Ok(None);
    };
    Ok(Some(ServiceSpec {
        name: SERVICE.into(),
        // The supervisor is `wsctl supervise`: the console is the same binary.
        program: std::env::current_exe()?,
        args: vec![
            "--state-dir".into(),
            dir.root.to_string_lossy().into_owned(),
            "console".into(),
            "--serve".into(),
            // The port this supervisor waits on, whatever a later `up` wrote to state.json.
            "--port".into(),
            port.to_string(),
        ],
        env: vec![("LOG_FORMAT".into(), "json".into())],
        cwd: Some("/".into()),
        run_as: None,
        log: dir.log(SERVICE),
        stop_signal: libc::SIGTERM,
        death_signal: libc::SIGTERM,
    }))
}
