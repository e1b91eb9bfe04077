//! The question irreversible verbs ask first. On a terminal the user types `yes`; anywhere
//! else (a script, CI, a pipe) nobody can answer, so the verb refuses unless `--yes` says
//! the caller means it. Undoable verbs never ask: they print how to undo instead.

use std::io::{IsTerminal, Write};

/// Whether to go ahead with `what` (e.g. "deletes branch feature and its data"; the refusal
/// reads "this {what} and cannot be undone").
/// `Err` when stdin is not a terminal and `yes` is false; `Ok(false)` when the user said no.
pub fn irreversible(what: &str, question: &str, yes: bool) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "this {what} and cannot be undone; pass --yes to confirm when not on a terminal"
        );
    }
    print!("{question} Type 'yes': ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if answer.trim() == "yes" {
        return Ok(true);
    }
    println!("Nothing deleted.");
    Ok(false)
}
