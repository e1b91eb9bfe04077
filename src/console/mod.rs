//! The web console: the stack at a glance (services, health, the API's traffic), its
//! branches and snapshots, migrations, import reports and logs, with the CLI's actions as
//! buttons. Built on the same engine as `wsctl`, so the two cannot disagree. Pages are
//! rendered on the server (maud); the little script in `assets/` only opens dialogs, copies
//! URLs and follows server-sent events.

mod actions;
mod auth;
mod events;
mod logfiles;
mod metrics;
mod pages;
mod reply;
mod view;

use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;

use crate::engine::require_state;
use crate::stack::state::StateDir;

/// What every request shares.
pub struct Console {
    pub dir: StateDir,
    pub port: u16,
    sessions: auth::Sessions,
    /// One state-changing operation at a time, as in one terminal.
    ops: tokio::sync::Mutex<()>,
    metrics: metrics::History,
    /// Bumped whenever the stack changes (from here or from the CLI); pages follow it.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Console {
    fn changed(&self) {
        self.changes.send_modify(|v| *v += 1);
    }

    /// The health suite's last report, whoever ran it.
    fn health(&self) -> Option<crate::health::LastRun> {
        crate::health::last(&self.dir)
    }
}

/// Serves the console for the stack in `dir` on 127.0.0.1:`port` (else state.json's port,
/// else a free one) until SIGTERM or Ctrl-C.
pub async fn serve(dir: StateDir, port: Option<u16>) -> anyhow::Result<()> {
    let state = require_state(&dir)?;
    let by_hand = port.or(state.console_port).is_none();
    let port = match port.or(state.console_port) {
        Some(p) => p,
        None => crate::stack::ports::free_port()?,
    };
    let token = dir.secret(crate::engine::console::TOKEN)?;
    let console = web::Data::new(Console {
        dir: dir.clone(),
        port,
        sessions: auth::Sessions::new(token),
        ops: tokio::sync::Mutex::new(()),
        metrics: metrics::History::default(),
        changes: tokio::sync::watch::channel(0).0,
    });
    tokio::spawn(metrics::sample(console.clone().into_inner()));
    tokio::spawn(events::watch_files(console.clone().into_inner()));
    let data = console.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(routes)
            .default_service(web::to(not_found))
            .wrap(from_fn(auth::guard))
            .wrap(security_headers())
    })
    .workers(2)
    // Open event streams would hold a graceful stop for its full 30 s default.
    .shutdown_timeout(1)
    .listen(listener(port).await?)?
    .run();
    // The token goes to the terminal of whoever ran this by hand, never to the service's log.
    if by_hand {
        println!("{}", crate::engine::console::login_url(&dir, port)?);
    }
    tracing::info!(port, "console listening on 127.0.0.1");
    server.await?;
    Ok(())
}

/// 127.0.0.1:`port`, waiting a few seconds while it is busy: a client's outgoing connection
/// can hold a free-looking port for a moment.
async fn listener(port: u16) -> anyhow::Result<std::net::TcpListener> {
    let mut tries = 0;
    loop {
        match bind(port) {
            Ok(l) => return Ok(l),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 25 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("the console cannot listen on 127.0.0.1:{port} — pass --console-port")
                })
            }
        }
    }
}

/// With SO_REUSEADDR, as actix binds: a restart on the same port must not wait out the old
/// connections' TIME_WAIT.
fn bind(port: u16) -> std::io::Result<std::net::TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(([127, 0, 0, 1], port).into())?;
    socket.listen(1024)?.into_std()
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/login", web::get().to(auth::login))
        .route("/assets/console.css", web::get().to(view::css))
        .route("/assets/console.js", web::get().to(view::js))
        .route("/", web::get().to(pages::overview::page))
        .route("/branches", web::get().to(pages::branches::page))
        .route("/migrations", web::get().to(pages::migrations::page))
        .route("/imports", web::get().to(pages::imports::page))
        .route("/logs", web::get().to(pages::logs::page))
        .route("/events", web::get().to(events::changes))
        .route("/logs/stream", web::get().to(events::log_stream))
        .route("/actions/health", web::post().to(actions::health))
        .route("/actions/branch", web::post().to(actions::create_branch))
        .route("/actions/switch", web::post().to(actions::switch))
        .route("/actions/delete", web::post().to(actions::delete_branch))
        .route("/actions/snapshot", web::post().to(actions::snapshot))
        .route("/actions/rollback", web::post().to(actions::rollback))
        .route(
            "/actions/migrate-check",
            web::post().to(actions::migrate_check),
        );
}

fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ))
        .add(("X-Content-Type-Options", "nosniff"))
        // Not no-referrer: with it, chromium sends `Origin: null` on the console's own form posts.
        .add(("Referrer-Policy", "same-origin"))
        .add(("Cache-Control", "no-store"))
}

/// For the supervisor's readiness probe; says nothing about the stack.
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    reply::error_page(
        &req,
        actix_web::http::StatusCode::NOT_FOUND,
        "No such page",
        "The console has no page here.",
    )
}
