//! `wsctl logs` on a compose stack: the lines of `compose logs --timestamps` read back into
//! the native form — the service's wsctl name, `name | line`, JSON lines made readable — so
//! `--since` and `--json` mean the same on both runtimes. Compose v1 has no `--since`; the
//! timestamps it adds let wsctl filter instead, for v1 and v2 alike.

use chrono::{DateTime, Utc};

/// One line of `compose logs --no-color --timestamps`.
#[derive(Debug, PartialEq, Eq)]
pub struct Line {
    /// The service, as wsctl names it (`workspace-api`, `storage_broker`, …).
    pub service: String,
    /// The time the engine received the line.
    pub time: Option<DateTime<Utc>>,
    /// What the service wrote.
    pub text: String,
}

/// `<container> | <RFC 3339 time> <text>`; containers are `<project>_<service>_<n>` (compose
/// v1) or `<project>-<service>-<n>` (v2). A line of compose's own (an "Attaching to" banner)
/// has no `|` and is `None`.
pub fn parse(line: &str, project: &str) -> Option<Line> {
    let (container, rest) = line.split_once('|')?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let (time, text) = match rest.split_once(' ') {
        Some((t, text)) => match DateTime::parse_from_rfc3339(t) {
            Ok(t) => (Some(t.with_timezone(&Utc)), text),
            Err(_) => (None, rest),
        },
        None => match DateTime::parse_from_rfc3339(rest) {
            Ok(t) => (Some(t.with_timezone(&Utc)), ""),
            Err(_) => (None, rest),
        },
    };
    Some(Line {
        service: service_of(container.trim(), project),
        time,
        text: text.to_string(),
    })
}

/// The wsctl name of the service a container runs.
pub fn service_of(container: &str, project: &str) -> String {
    let rest = container
        .strip_prefix(project)
        .and_then(|r| r.strip_prefix(['_', '-']))
        .unwrap_or(container);
    let service = match rest.rsplit_once(['_', '-']) {
        Some((s, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => s,
        _ => rest,
    };
    crate::stack::containers::native_service(service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_v1_and_v2_lines_give_the_service_time_and_text() {
        let v1 = "ws-main-1a2b_api_1       | 2026-12-01T18:00:01.250000000Z {\"level\":\"INFO\"}";
        let l = parse(v1, "ws-main-1a2b").unwrap();
        assert_eq!(l.service, "workspace-api");
        assert_eq!(
            l.time.unwrap().to_rfc3339(),
            "2026-12-01T18:00:01.250+00:00"
        );
        assert_eq!(l.text, "{\"level\":\"INFO\"}");
        let v2 = "ws-main-1a2b-storage-broker-1  | 2026-12-01T18:00:02Z listening";
        let l = parse(v2, "ws-main-1a2b").unwrap();
        assert_eq!(
            (l.service.as_str(), l.text.as_str()),
            ("storage_broker", "listening")
        );
        assert_eq!(
            service_of("ws-main-1a2b_safekeeper-3_1", "ws-main-1a2b"),
            "safekeeper-3"
        );
    }

    #[test]
    fn banners_and_lines_without_a_time_are_kept_apart() {
        assert_eq!(parse("Attaching to ws_api_1, ws_postgres_1", "ws"), None);
        let l = parse("ws_postgres_1  | no time here", "ws").unwrap();
        assert_eq!((l.time, l.text.as_str()), (None, "no time here"));
        let l = parse("ws_postgres_1  | 2026-12-01T18:00:02Z", "ws").unwrap();
        assert_eq!(l.text, "");
    }
}
