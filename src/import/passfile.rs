//! The source's password from a passfile, so it need not be on the command line (where every
//! local user can read it with `ps`): `PGPASSFILE`, else `~/.pgpass`, in libpq's format
//! (`host:port:database:user:password`, `*` matches anything, `\` escapes `:` and `\`). As
//! libpq does, a file others can read is ignored with a warning.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use tokio_postgres::config::Host;

/// The passfile wsctl reads, if one exists.
fn location() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PGPASSFILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass"))
}

/// The password for `config`'s first host, port, database and user, if the passfile has one.
pub fn lookup(config: &tokio_postgres::Config) -> Option<String> {
    let path = location()?;
    let meta = std::fs::metadata(&path).ok()?;
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "warning: ignoring {}: others can read it — `chmod 600 {0}`",
            path.display()
        );
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        // libpq matches a socket connection as "localhost".
        Some(Host::Unix(_)) | None => "localhost".into(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let user = config.get_user().unwrap_or("postgres");
    let db = config.get_dbname().unwrap_or(user);
    find(&text, [host.as_str(), &port, db, user])
}

fn find(text: &str, want: [&str; 4]) -> Option<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .find_map(|line| {
            let fields = split(line);
            if fields.len() < 5 {
                return None;
            }
            let matches = fields[..4]
                .iter()
                .zip(want)
                .all(|(f, w)| f == "*" || f == w);
            matches.then(|| fields[4].clone())
        })
}

/// Splits on unescaped `:`; the password field keeps any further colons.
fn split(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut().unwrap().push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_by_field_with_wildcards_and_escapes() {
        let text = "# comment\nother:5432:db:u:no\nh:*:db:u:p\\:w\\\\d:tail\n";
        assert_eq!(
            find(text, ["h", "6000", "db", "u"]).as_deref(),
            Some("p:w\\d:tail")
        );
        assert_eq!(find(text, ["h", "6000", "db", "v"]), None);
    }
}
