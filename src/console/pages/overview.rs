//! The overview: services, the health suite, the API's traffic and the URLs to copy.

use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::super::{metrics, reply, view, Console};
use crate::stack::process;
use crate::stack::state::{Lock, StackState, Status};

/// Seconds since `pid` started, from /proc (status.json records restarts, not start times).
fn uptime_secs(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces) start at field 3;
    // field 22 is the start time in clock ticks since boot.
    let start: f64 = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let boot: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    (ticks > 0).then(|| (boot - start / ticks as f64).max(0.0) as u64)
}

fn services(status: Option<&Status>, running: bool) -> Markup {
    let phase = match (running, status) {
        (false, _) => "stopped".to_string(),
        (true, Some(s)) => format!("{:?}", s.phase).to_lowercase(),
        (true, None) => "starting".to_string(),
    };
    html! {
        h2 { "Services " span.phase data-phase=(phase) { (phase) } }
        table #services {
            thead { tr { th { "service" } th { "state" } th.num { "pid" } th.num { "uptime" } th.num { "restarts" } th { "last exit" } } }
            tbody {
                @for s in status.filter(|_| running).map(|s| s.services.as_slice()).unwrap_or_default() {
                    @let alive = s.pid.is_some_and(process::alive);
                    tr data-service=(s.name) {
                        td { (s.name) }
                        td class=(if alive { "up" } else { "down" }) { (if alive { "running" } else { "down" }) }
                        td.num { (s.pid.map_or("-".into(), |p| p.to_string())) }
                        td.num { (s.pid.filter(|_| alive).and_then(uptime_secs).map_or("-".into(), view::duration)) }
                        td.num { (s.restarts) }
                        td { (s.last_exit.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

fn urls(state: &StackState) -> Markup {
    let api = format!("http://127.0.0.1:{}", state.api_port);
    html! {
        h2 { "URLs" }
        (view::copyable("API", &api))
        (view::copyable("OpenAPI", &format!("{api}/openapi.json")))
        (view::copyable("Database", &format!(
            "postgres://{}@127.0.0.1:{}/{}", state.superuser, state.pg_port, state.database
        )))
        p.hint { "The password stays in secrets/pg-password; `wsctl url` prints the full URL." }
        @for p in &state.previews {
            (view::copyable(&format!("Preview {}", p.branch), &format!("http://127.0.0.1:{}", p.port)))
        }
    }
}

fn health(req: &HttpRequest, console: &Console) -> Markup {
    let run = console.health();
    html! {
        h2 { "Health" }
        form method="post" action="/actions/health" {
            (view::csrf_field(req))
            button #run-health type="submit" { "Run again" }
            @match &run {
                Some(r) => {
                    @let failed = r.checks.iter().filter(|c| c.status == crate::health::Outcome::Fail).count();
                    span #health-summary data-failed=(failed) {
                        " " (r.checks.len()) " checks, " (failed) " failed, at " (view::time(&r.at))
                    }
                }
                None => span #health-summary { " not run yet" }
            }
        }
        @if let Some(r) = &run { (view::checks(&r.checks)) }
    }
}

pub async fn page(req: HttpRequest, console: web::Data<Console>) -> HttpResponse {
    let state = match crate::engine::require_state(&console.dir) {
        Ok(s) => s,
        Err(e) => {
            let status = actix_web::http::StatusCode::SERVICE_UNAVAILABLE;
            return reply::error_page(&req, status, "No stack", &format!("{e:#}"));
        }
    };
    let running = Lock::is_held(&console.dir.lock_file()).unwrap_or(false);
    let status = console.dir.load_status();
    let body = html! {
        h1 { "Overview" }
        p.meta {
            (format!("{:?}", state.backend).to_lowercase()) " backend"
            @if state.containers.is_some() { ", containers" }
            " · serving branch " strong { (state.active_branch.as_deref().unwrap_or(crate::branch::MAIN)) }
            " · " code { (console.dir.root.display()) }
        }
        div.grid {
            section { (services(status.as_ref(), running)) (urls(&state)) }
            section { h2 { "API traffic" } (metrics::charts(&console)) (health(&req, &console)) }
        }
    };
    view::page(&req, "Overview", body)
}
