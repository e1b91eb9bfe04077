//! The stack's log files as the console shows them: which there are, and what a line must
//! not show.

use std::path::PathBuf;

use super::Console;

/// The logs the stack has: `<name>.log` in logs/, sorted (supervisor, postgres, the API, …).
pub fn services(console: &Console) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(console.dir.logs())
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_str()?
                        .strip_suffix(".log")
                        .map(String::from)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The log file of `service`, if it is one of the stack's logs (no other path is served).
pub fn path(console: &Console, service: &str) -> Option<PathBuf> {
    services(console)
        .into_iter()
        .any(|s| s == service)
        .then(|| console.dir.log(service))
}

/// What a log line must not show: the stack's secrets, should a program ever print one.
pub fn redact(console: &Console, text: &str) -> String {
    let mut out = text.to_string();
    for name in ["pg-password", crate::engine::console::TOKEN] {
        if let Ok(secret) = console.dir.read_secret(name) {
            if secret.len() >= 8 {
                out = out.replace(&secret, "[secret]");
            }
        }
    }
    out
}
