//! `wsctl`: the one command a developer types to run the Workspace stack.

use clap::Parser;
use workspace_stack::cli::{self, Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `wsctl status | head` should end quietly like any Unix tool, not panic on a closed pipe.
    // Only for commands that just print: the others hold sockets, where a peer that goes
    // away must be an error to handle, not a signal that kills the process.
    if matches!(
        cli.command,
        Command::Status { .. }
            | Command::Logs { .. }
            | Command::Url { .. }
            | Command::Env(_)
            | Command::Completions { .. }
            | Command::Man
    ) {
        // SAFETY: restoring the default disposition of one signal before any thread starts.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    // One thread is plenty for a process runner, and it keeps the parent-death signal of the
    // supervisor's children tied to a thread that lives as long as the process.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => std::process::ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("wsctl: {e:#}");
            if e.downcast_ref::<workspace_stack::engine::NotRunning>()
                .is_some()
            {
                std::process::ExitCode::from(workspace_stack::engine::NOT_RUNNING_EXIT as u8)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}
