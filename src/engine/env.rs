//! `wsctl env`: the variables a program needs to reach the stack, for `eval` or a .env file.
//!
//! The password stays out of them by default: DATABASE_URL has none, and PGPASSFILE names a
//! 0600 file in the stack's secrets directory that libpq reads (so do node-postgres, pgx and
//! sqlx). Printed values end up in shell history, .env files and CI logs; a file reference
//! does not leak the password there. With `--with-password` it is in DATABASE_URL, for the
//! clients that read nothing else. On the native postgres backend the URL names the stack's
//! private socket directory, as `wsctl url` does, so no other local account can stand in for
//! the server and be sent the password.

use super::require_state;
use crate::stack::state::{write_atomic, StateDir};

/// Name and value, in the order they are printed.
pub type Vars = Vec<(&'static str, String)>;

pub fn env(dir: &StateDir, with_password: bool) -> anyhow::Result<Vars> {
    let state = require_state(dir)?;
    let password = dir.read_secret("pg-password")?;
    let url = crate::stack::connection::database_url(dir, &state)?;
    let api = format!("http://127.0.0.1:{}", state.api_port);
    if with_password {
        return Ok(vec![("DATABASE_URL", url), ("WORKSPACE_API_URL", api)]);
    }
    let bare = url.replacen(&format!(":{password}@"), "@", 1);
    let passfile = dir.secrets_dir().join("pgpass");
    write_atomic(
        &passfile,
        pgpass(&state.superuser, &password, host_of(&bare)).as_bytes(),
        0o600,
    )?;
    Ok(vec![
        ("DATABASE_URL", bare),
        ("PGPASSFILE", passfile.display().to_string()),
        ("WORKSPACE_API_URL", api),
    ])
}

/// The host of `postgres://user@HOST:port/db`, percent-decoded (a socket directory).
fn host_of(url: &str) -> String {
    let after = url.split_once('@').map_or("", |(_, rest)| rest);
    let host = after.rsplit_once(':').map_or(after, |(h, _)| h);
    let bytes = host.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line of libpq's password file: host:port:database:user:password, any port and
/// database, with ':' and '\' escaped as the format wants.
fn pgpass(user: &str, password: &str, host: String) -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace(':', "\\:");
    format!("{}:*:*:{}:{}\n", esc(&host), esc(user), esc(password))
}

/// `NAME=value`, single-quoted when the value has anything a shell or a .env parser would
/// read specially.
pub fn line(name: &str, value: &str, export: bool) -> String {
    let plain = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    let value = if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    };
    format!("{}{name}={value}", if export { "export " } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_hosts_are_decoded_and_passfile_fields_escaped() {
        assert_eq!(
            host_of("postgres://postgres@%2Ftmp%2Fa%20b%2Fsocket:5433/workspace"),
            "/tmp/a b/socket"
        );
        assert_eq!(
            host_of("postgres://postgres@127.0.0.1:5433/workspace"),
            "127.0.0.1"
        );
        assert_eq!(
            pgpass("postgres", "p:w\\d", "/s".into()),
            "/s:*:*:postgres:p\\:w\\\\d\n"
        );
        assert_eq!(
            line("A", "postgres://u@h:1/d", false),
            "A=postgres://u@h:1/d"
        );
        assert_eq!(line("A", "/x y/it's", true), "export A='/x y/it'\\''s'");
    }
}
