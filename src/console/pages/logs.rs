//! Logs: the tail of each service's log, following as it grows (`/logs/stream`).

use std::io::{Read, Seek, SeekFrom};

use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

use super::super::{logfiles, view, Console};

/// How much of a log the page starts with.
const TAIL_BYTES: u64 = 64 * 1024;

/// The last lines of a log, and the offset they end at (where following starts).
fn tail(path: &std::path::Path) -> (String, u64) {
    let Ok(mut f) = std::fs::File::open(path) else {
        return (String::new(), 0);
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let start = len.saturating_sub(TAIL_BYTES);
    let mut bytes = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_err()
        || f.take(len - start).read_to_end(&mut bytes).is_err()
    {
        return (String::new(), 0);
    }
    let text = String::from_utf8_lossy(&bytes);
    // From the first whole line, unless the file starts here.
    let text = if start > 0 {
        text.split_once('\n').map_or("", |x| x.1)
    } else {
        &text
    };
    (text.to_string(), start + bytes.len() as u64)
}

#[derive(Deserialize)]
pub struct Query {
    service: Option<String>,
}

pub async fn page(
    req: HttpRequest,
    console: web::Data<Console>,
    q: web::Query<Query>,
) -> HttpResponse {
    let all = logfiles::services(&console);
    let chosen = q
        .service
        .clone()
        .filter(|s| all.contains(s))
        .or_else(|| all.iter().find(|s| *s == "workspace-api").cloned())
        .or_else(|| all.first().cloned());
    let body = html! {
        h1 { "Logs" }
        nav.tabs {
            @for s in &all {
                a href=(format!("/logs?service={s}")) class=[(Some(s) == chosen.as_ref()).then_some("active")] { (s) }
            }
        }
        @if let Some(s) = &chosen {
            @let (text, offset) = logfiles::path(&console, s).map(|p| tail(&p)).unwrap_or_default();
            pre #log data-stream=(format!("/logs/stream?service={s}&from={offset}")) { (logfiles::redact(&console, &text)) }
        } @else {
            p { "No logs yet." }
        }
    };
    view::page(&req, "Logs", body)
}
