//! `wsctl completions SHELL` and `wsctl man`: generated from the clap definitions, so they
//! list exactly the commands and flags `wsctl --help` does.

use clap::CommandFactory;

use super::Cli;

pub fn completions(shell: clap_complete::Shell) -> i32 {
    clap_complete::generate(shell, &mut Cli::command(), "wsctl", &mut std::io::stdout());
    0
}

/// One page: synopsis, options, the commands with what each does, the version.
pub fn man() -> anyhow::Result<i32> {
    clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout().lock())?;
    Ok(0)
}
