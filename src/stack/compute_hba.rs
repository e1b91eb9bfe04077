//! The native compute's own client authentication. The basebackup's `pg_hba.conf` trusts every
//! role on the Unix socket, 127.0.0.1 and ::1 (pageserver/src/basebackup.rs:378-385,
//! libs/postgres_ffi/samples/pg_hba.conf:89-98), and compute_ctl only appends `host all all
//! all md5` after those lines (compute_tools/src/spec.rs:137-164), so any local account could
//! connect as the superuser without a password. Instead the spec points PostgreSQL at a file
//! wsctl writes (`hba_file`) and puts the Unix socket in the compute's private 0700 directory
//! (`unix_socket_directories`); compute_ctl, which connects as `cloud_admin` without a password
//! (its `--connstr`, bin/compute_ctl.rs:242, compute.rs:569-600, 1902-1945), reaches PostgreSQL
//! through that socket, and every TCP connection must present a SCRAM password.
//!
//! Both settings go into the spec's `cluster.settings`, which compute_ctl writes into
//! postgresql.conf after the spec's own `postgresql_conf` (compute_tools/src/config.rs:63-66,
//! 245-250). compute_ctl itself never sets `hba_file`, `unix_socket_directories` or
//! `listen_addresses` (none is named anywhere in compute_tools/src at 6a35a3e9), starts
//! postgres with `-D` alone (compute.rs:1818-1824), and the only file included after the
//! settings holds `neon.max_cluster_size` (config.rs:378-380, compute.rs:2151, 2188).

use std::path::Path;

use serde_json::{json, Value};

/// The compute's pg_hba.conf. PostgreSQL takes the first line that matches; `all` does not
/// match replication connections, which the basebackup's file trusts on the socket and on
/// loopback (samples/pg_hba.conf:94-98), so they get lines of their own: trusted for
/// `cloud_admin` on the private socket only.
pub const HBA: &str = "\
# Written by wsctl; the compute's hba_file (see its spec's cluster.settings).
# compute_ctl connects as cloud_admin without a password, through the Unix socket in this
# 0700 directory, which only the compute's account (and root) can enter.
local all cloud_admin trust
local replication cloud_admin trust
local all all scram-sha-256
local replication all scram-sha-256
# Everything over TCP, loopback included, must present a password.
host all all all scram-sha-256
host replication all all scram-sha-256
";

/// PostgreSQL's limit for a socket path, `sizeof(sun_path)` including the NUL.
const SUN_PATH: usize = 108;

/// Points the spec at `hba_file` and puts the socket in `socket_dir`.
pub fn private_socket_settings(config: &mut Value, hba_file: &Path, socket_dir: &Path) {
    let setting = |name: &str, value: &Path| json!({"name": name, "value": value.display().to_string(), "vartype": "string"});
    config["spec"]["cluster"]["settings"] = json!([
        setting("hba_file", hba_file),
        setting("unix_socket_directories", socket_dir),
    ]);
}

/// compute_ctl's `--connstr`: a URL (it is parsed with `Url::parse`, bin/compute_ctl.rs:242,
/// then by rust-postgres) whose host is the percent-encoded socket directory, which both
/// rust-postgres and libpq read as a Unix socket.
pub fn socket_connstr(socket_dir: &Path, port: u16) -> anyhow::Result<String> {
    let dir = socket_dir.to_str().ok_or_else(|| {
        anyhow::anyhow!(
            "{} is not UTF-8: the compute's socket directory must be",
            socket_dir.display()
        )
    })?;
    let socket_len = dir.len() + format!("/.s.PGSQL.{port}").len();
    if socket_len >= SUN_PATH {
        anyhow::bail!(
            "the compute's socket path {dir}/.s.PGSQL.{port} is {socket_len} bytes, over the \
             system's limit of {} — use a shorter --state-dir",
            SUN_PATH - 1
        );
    }
    let mut host = String::new();
    for b in dir.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                host.push(char::from(b))
            }
            _ => host.push_str(&format!("%{b:02X}")),
        }
    }
    Ok(format!("postgresql://cloud_admin@{host}:{port}/postgres"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn the_connstr_names_the_socket_for_rust_postgres() {
        let c = socket_connstr(Path::new("/var/lib/ws stack/neon/compute"), 55432).unwrap();
        assert_eq!(
            c,
            "postgresql://cloud_admin@%2Fvar%2Flib%2Fws%20stack%2Fneon%2Fcompute:55432/postgres"
        );
        // compute_ctl's own parse (bin/compute_ctl.rs:242) and the port it reads from it.
        assert_eq!(url::Url::parse(&c).unwrap().port(), Some(55432));
        let conf = tokio_postgres::Config::from_str(&c).unwrap();
        assert_eq!(
            conf.get_hosts(),
            [tokio_postgres::config::Host::Unix(
                "/var/lib/ws stack/neon/compute".into()
            )]
        );
        assert_eq!(conf.get_ports(), [55432]);
        assert_eq!(conf.get_user(), Some("cloud_admin"));
    }

    #[test]
    fn a_socket_path_over_the_limit_is_refused_with_the_fix() {
        let long = format!("/{}", "d".repeat(100));
        let e = socket_connstr(Path::new(&long), 55432).unwrap_err();
        assert!(e.to_string().contains("--state-dir"), "{e}");
    }

    #[test]
    fn the_settings_are_compute_ctls_generic_options() {
        let mut c = json!({"spec": {"cluster": {"settings": null}}});
        private_socket_settings(&mut c, Path::new("/s/hba.conf"), Path::new("/s"));
        let s = &c["spec"]["cluster"]["settings"];
        assert_eq!(
            s[0],
            json!({"name": "hba_file", "value": "/s/hba.conf", "vartype": "string"})
        );
        assert_eq!(s[1]["name"], "unix_socket_directories");
        // Only cloud_admin on the socket is trusted; every TCP line asks for the password.
        let rules: Vec<&str> = HBA.lines().filter(|l| !l.starts_with('#')).collect();
        for rule in &rules {
            let words: Vec<&str> = rule.split_whitespace().collect();
            match words[0] {
                "local" if words[3] == "trust" => assert_eq!(words[2], "cloud_admin"),
                "local" | "host" => assert_eq!(words.last(), Some(&"scram-sha-256"), "{rule}"),
                other => panic!("unexpected connection type {other}"),
            }
        }
        assert!(rules.contains(&"host all all all scram-sha-256"));
    }
}
