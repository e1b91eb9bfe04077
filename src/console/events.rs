//! Live updates as server-sent events: `/events` says "changed" whenever state.json,
//! status.json or an import report changes (whoever changed it: this console or the CLI),
//! and `/logs/stream` sends a log's new lines as they are written.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use serde::Deserialize;

use super::{logfiles, Console};

const POLL: Duration = Duration::from_millis(250);
const KEEPALIVE: Duration = Duration::from_secs(15);

fn stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    std::fs::metadata(path)
        .ok()
        .and_then(|m| Some((m.modified().ok()?, m.len())))
}

/// On the postgres backend, branches and snapshots are databases, not files: their oids and
/// names, read once a second over one kept connection.
struct Databases {
    client: Option<tokio_postgres::Client>,
}

impl Databases {
    async fn fingerprint(&mut self, console: &Console) -> Option<String> {
        let state = console.dir.load().ok()??;
        if state.backend != crate::stack::state::BackendKind::Postgres {
            return None;
        }
        if !matches!(&self.client, Some(c) if !c.is_closed()) {
            let config =
                crate::stack::connection::pg_config(&console.dir, &state, "postgres").ok()?;
            self.client = crate::db::connect(&config).await.ok();
        }
        let row = self
            .client
            .as_ref()?
            .query_one(
                "SELECT coalesce(string_agg(oid::text || ':' || datname, ',' ORDER BY oid), '') \
                   FROM pg_database",
                &[],
            )
            .await;
        match row {
            Ok(r) => r.try_get(0).ok(),
            Err(_) => {
                self.client = None;
                None
            }
        }
    }
}

/// Polls what the stack's state lives in for the console's lifetime: state.json, status.json
/// and the import reports (a stat each, four times a second), and the databases.
pub async fn watch_files(console: Arc<Console>) {
    let files: Vec<PathBuf> = vec![
        console.dir.state_file(),
        console.dir.status_file(),
        console.dir.health_file(),
        console.dir.root.join("imports"),
    ];
    let mut last: Vec<_> = files.iter().map(|f| stamp(f)).collect();
    let mut databases = Databases { client: None };
    let mut last_dbs = None;
    for tick in 0u64.. {
        tokio::time::sleep(POLL).await;
        let now: Vec<_> = files.iter().map(|f| stamp(f)).collect();
        let mut changed = now != last;
        last = now;
        if tick % 4 == 0 {
            let dbs = databases.fingerprint(&console).await;
            changed |= dbs.is_some() && last_dbs.is_some() && dbs != last_dbs;
            if dbs.is_some() {
                last_dbs = dbs;
            }
        }
        if changed {
            console.changed();
        }
    }
}

fn sse(
    stream: impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>> + 'static,
) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/event-stream"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .streaming(stream)
}

/// `GET /events`: `event: change` on every change, a comment now and then to keep it open.
pub async fn changes(console: web::Data<Console>) -> HttpResponse {
    let rx = console.changes.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let msg = match tokio::time::timeout(KEEPALIVE, rx.changed()).await {
            Ok(Ok(())) => format!("event: change\ndata: {}\n\n", *rx.borrow_and_update()),
            Ok(Err(_)) => return None,
            Err(_) => ": keepalive\n\n".to_string(),
        };
        Some((Ok(Bytes::from(msg)), rx))
    });
    sse(stream)
}

#[derive(Deserialize)]
pub struct LogQuery {
    pub service: String,
    /// The byte offset the page showed up to.
    pub from: Option<u64>,
}

struct Follow {
    console: web::Data<Console>,
    path: PathBuf,
    offset: u64,
    partial: String,
    quiet: Duration,
}

fn read_new(f: &mut Follow) -> Option<String> {
    let mut file = std::fs::File::open(&f.path).ok()?;
    let len = file.metadata().ok()?.len();
    if len < f.offset {
        f.offset = 0; // truncated or replaced
    }
    if len == f.offset {
        return None;
    }
    file.seek(SeekFrom::Start(f.offset)).ok()?;
    let mut bytes = Vec::new();
    file.take(1 << 20).read_to_end(&mut bytes).ok()?;
    f.offset += bytes.len() as u64;
    f.partial.push_str(&String::from_utf8_lossy(&bytes));
    // Whole lines only; the rest waits for its newline.
    let cut = f.partial.rfind('\n')? + 1;
    let lines: String = f.partial.drain(..cut).collect();
    let mut msg = String::new();
    for line in logfiles::redact(&f.console, &lines).lines() {
        msg.push_str("data: ");
        msg.push_str(line);
        msg.push_str("\n\n");
    }
    Some(msg)
}

/// `GET /logs/stream?service=…&from=…`: each new line of the log as one event.
pub async fn log_stream(
    req: HttpRequest,
    console: web::Data<Console>,
    q: web::Query<LogQuery>,
) -> HttpResponse {
    let Some(path) = logfiles::path(&console, &q.service) else {
        return super::reply::error_page(
            &req,
            actix_web::http::StatusCode::NOT_FOUND,
            "No such log",
            "The stack has no log of that name.",
        );
    };
    let offset = q.from.unwrap_or_else(|| stamp(&path).map_or(0, |s| s.1));
    let follow = Follow {
        console: console.clone(),
        path,
        offset,
        partial: String::new(),
        quiet: Duration::ZERO,
    };
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        loop {
            if let Some(msg) = read_new(&mut f) {
                f.quiet = Duration::ZERO;
                return Some((Ok(Bytes::from(msg)), f));
            }
            tokio::time::sleep(POLL).await;
            f.quiet += POLL;
            if f.quiet >= KEEPALIVE {
                f.quiet = Duration::ZERO;
                return Some((Ok(Bytes::from_static(b": keepalive\n\n")), f));
            }
        }
    });
    sse(stream)
}
