//! `wsctl`: the one command a developer types to run the Workspace stack.

use clap::Parser;
use workspace_stack::cli::{self, Cli};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
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
            std::process::ExitCode::FAILURE
        }
    }
}
