//! Port checks before anything starts, naming who holds a busy port.

use std::net::TcpListener;

use anyhow::bail;

/// Fails with "port P (wanted by SERVICE) is in use by pid N (name) — pass FLAG" when the
/// port cannot be bound on 127.0.0.1.
pub fn ensure_free(port: u16, service: &str, flag: &str) -> anyhow::Result<()> {
    if TcpListener::bind(("127.0.0.1", port)).is_ok() {
        return Ok(());
    }
    let holder = match owner(port) {
        Some((pid, name)) => format!("pid {pid} ({name})"),
        None => "another process".to_string(),
    };
    bail!("port {port} (wanted by {service}) is in use by {holder} — pass {flag} to choose another port")
}

/// The process listening on a TCP port, found through /proc (Linux). `None` if it cannot be
/// told (another user's process, or not Linux).
pub fn owner(port: u16) -> Option<(u32, String)> {
    let inodes: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|line| {
                    let cols: Vec<&str> = line.split_whitespace().collect();
                    let local_port = cols.get(1)?.rsplit(':').next()?;
                    // State 0A is LISTEN.
                    (u16::from_str_radix(local_port, 16).ok()? == port && cols.get(3)? == &"0A")
                        .then(|| cols.get(9).map(|s| s.to_string()))
                        .flatten()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    if inodes.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let t = target.to_string_lossy();
            if inodes.iter().any(|i| t == format!("socket:[{i}]")) {
                let name = std::fs::read_to_string(entry.path().join("comm"))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| "?".into());
                return Some((pid, name));
            }
        }
    }
    None
}

/// A port nobody listens on now (for tests and for `--api-port 0`-style choices).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_port_names_this_process() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let err = ensure_free(port, "postgres", "--pg-port")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(
                "port {port} (wanted by postgres) is in use by pid {}",
                std::process::id()
            )),
            "{err}"
        );
        assert!(
            err.ends_with("pass --pg-port to choose another port"),
            "{err}"
        );
        drop(listener);
        assert!(ensure_free(port, "postgres", "--pg-port").is_ok());
    }
}
