//! `wsctl logs` for log files: each line with its service's name, the JSON lines of the API
//! and the supervisor made readable, the last N lines, the lines since a time, and new lines
//! as the files grow (as `docker compose logs` shows a project's services).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// What `wsctl logs` asked for.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Only the last N lines of each log.
    pub tail: Option<usize>,
    /// Only lines from this time on.
    pub since: Option<DateTime<Utc>>,
    /// The JSON lines as written, not made readable.
    pub raw: bool,
}

/// `--since`: an RFC 3339 time, or a duration back from now (`90s`, `10m`, `2h`, `1d`).
pub fn parse_since(s: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n
        .parse()
        .ok()
        .filter(|_| !unit.is_empty())
        .with_context(|| {
            format!("--since {s:?}: give a duration (90s, 10m, 2h, 1d) or an RFC 3339 time")
        })?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => bail!("--since {s:?}: the unit is s, m, h or d"),
    };
    Ok(now - chrono::Duration::seconds(secs))
}

/// A line's time: the `timestamp` of a JSON line, or PostgreSQL's `2026-12-01 18:00:00.123 UTC`
/// prefix. Other lines (continuations, a program's own format) have none.
pub fn timestamp(line: &str) -> Option<DateTime<Utc>> {
    if line.starts_with('{') {
        let v: Value = serde_json::from_str(line).ok()?;
        let t = v.get("timestamp")?.as_str()?;
        return DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&Utc));
    }
    let head = line.get(..23)?;
    chrono::NaiveDateTime::parse_from_str(head, "%Y-%m-%d %H:%M:%S%.3f")
        .ok()
        .map(|t| t.and_utc())
}

/// A JSON log line as `TIME LEVEL message key=value …`; any other line as it is.
pub fn readable(line: &str) -> String {
    let Some(Value::Object(mut v)) = line
        .starts_with('{')
        .then(|| serde_json::from_str::<Value>(line).ok())
        .flatten()
    else {
        return line.to_string();
    };
    let text = |v: Option<Value>| match v {
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let time = text(v.remove("timestamp"));
    let time = DateTime::parse_from_rfc3339(&time)
        .map(|t| t.with_timezone(&Utc).format("%H:%M:%S%.3f").to_string())
        .unwrap_or(time);
    let level = text(v.remove("level"));
    let message = text(v.remove("message"));
    v.remove("target");
    let fields: String = v
        .into_iter()
        .map(|(k, val)| format!(" {k}={}", text(Some(val))))
        .collect();
    format!("{time} {level:5} {message}{fields}")
}

/// The log files of a stack, read from their start (or their last lines) and then followed.
pub struct LogFiles {
    files: Vec<(String, PathBuf, u64, String)>,
    opts: LogOptions,
    /// Whether the last line of each file passed `--since` (for lines without a time).
    keep: Vec<bool>,
}

impl LogFiles {
    pub fn new(files: Vec<PathBuf>, opts: LogOptions) -> Self {
        let files: Vec<_> = files
            .into_iter()
            .map(|p| (service_of(&p), p, 0, String::new()))
            .collect();
        let keep = vec![opts.since.is_none(); files.len()];
        LogFiles { files, opts, keep }
    }

    /// The logs in `dir` as they grow from now on: files there now are read from their end,
    /// files that appear later from their start (`up --foreground`).
    pub fn from_now(dir: &Path, opts: LogOptions) -> Self {
        let mut logs = LogFiles::new(Vec::new(), opts);
        logs.add_new(dir, true);
        logs
    }

    /// Adds the files in `dir` not yet followed; `at_end`: skip what they hold.
    fn add_new(&mut self, dir: &Path, at_end: bool) {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .filter(|p| !self.files.iter().any(|f| &f.1 == p))
            .collect();
        found.sort();
        for p in found {
            let offset = if at_end {
                std::fs::metadata(&p).map_or(0, |m| m.len())
            } else {
                0
            };
            self.files.push((service_of(&p), p, offset, String::new()));
            self.keep.push(self.opts.since.is_none());
        }
    }

    /// New lines of every log in `dir`, including logs that appeared since the last call.
    pub fn poll_dir(&mut self, dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
        self.add_new(dir, false);
        self.poll()
    }

    /// The widest service name, to align the `name | ` prefixes.
    pub fn width(&self) -> usize {
        self.files.iter().map(|f| f.0.len()).max().unwrap_or(0)
    }

    /// What the files hold now (each cut to `--tail`), as (service, line).
    pub fn history(&mut self) -> anyhow::Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for i in 0..self.files.len() {
            let mut lines = self.read_new(i)?;
            if let Some(n) = self.opts.tail {
                lines.drain(..lines.len().saturating_sub(n));
            }
            out.extend(lines);
        }
        Ok(out)
    }

    /// Lines written since the last call, file by file.
    pub fn poll(&mut self) -> anyhow::Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for i in 0..self.files.len() {
            out.extend(self.read_new(i)?);
        }
        Ok(out)
    }

    fn read_new(&mut self, i: usize) -> anyhow::Result<Vec<(String, String)>> {
        let (name, path, offset, partial) = &mut self.files[i];
        let Ok(mut file) = std::fs::File::open(&*path) else {
            return Ok(Vec::new());
        };
        let len = file.metadata()?.len();
        if len < *offset {
            *offset = 0; // truncated or replaced
            partial.clear();
        }
        file.seek(SeekFrom::Start(*offset))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        *offset += bytes.len() as u64;
        partial.push_str(&String::from_utf8_lossy(&bytes));
        let Some(end) = partial.rfind('\n') else {
            return Ok(Vec::new());
        };
        let complete: String = partial.drain(..=end).collect();
        let mut out = Vec::new();
        for line in complete.lines() {
            if let Some(since) = self.opts.since {
                if let Some(t) = timestamp(line) {
                    self.keep[i] = t >= since;
                }
            }
            if self.keep[i] {
                let shown = if self.opts.raw {
                    line.to_string()
                } else {
                    readable(line)
                };
                out.push((name.clone(), shown));
            }
        }
        Ok(out)
    }
}

/// `name | line`, the name padded to `width`.
pub fn prefixed(width: usize, name: &str, line: &str) -> String {
    format!("{name:width$} | {line}")
}

/// The path's file name without `.log`, as `wsctl logs` names a service.
pub fn service_of(path: &Path) -> String {
    path.file_stem()
        .map_or("?".into(), |s| s.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_become_readable_and_others_stay() {
        let line = r#"{"timestamp":"2026-12-01T18:00:01.250Z","level":"INFO","message":"started","target":"x","service":"postgres","pid":12}"#;
        assert_eq!(
            readable(line),
            "18:00:01.250 INFO  started pid=12 service=postgres"
        );
        assert_eq!(
            readable("LOG:  database system is ready"),
            "LOG:  database system is ready"
        );
    }

    #[test]
    fn since_takes_durations_and_times_and_names_the_forms() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T18:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_since("10m", now).unwrap().to_rfc3339(),
            "2026-12-01T17:50:00+00:00"
        );
        assert_eq!(
            parse_since("2026-12-01T17:00:00Z", now)
                .unwrap()
                .to_rfc3339(),
            "2026-12-01T17:00:00+00:00"
        );
        assert!(parse_since("ten", now)
            .unwrap_err()
            .to_string()
            .contains("90s"));
        assert!(parse_since("5y", now).is_err());
    }

    #[test]
    fn postgres_and_json_lines_have_times() {
        assert!(timestamp("2026-12-01 18:00:00.123 UTC [12] LOG:  ready").is_some());
        assert!(timestamp(r#"{"timestamp":"2026-12-01T18:00:01Z"}"#).is_some());
        assert!(timestamp("\tcontinued").is_none());
    }
}
