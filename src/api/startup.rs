//! Wiring: settings in, a bound listener and a running server out.
//!
//! Middleware, outermost first: observe (correlation id, log line, metrics) → gzip → security
//! headers → CORS (answers preflights) → guard (Host, Origin, content type) → rate limit →
//! body read (size, deadline, memory budget) → routes. The limiter sits inside CORS so
//! preflights are never counted and 429s still carry CORS headers.

use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Compress, Condition, DefaultHeaders};
use actix_web::{web, App, HttpServer};
use anyhow::Context;

use super::guard::{self, Guard};
use super::limits::{self, BodyLimits};
use super::metrics::{observe, Metrics};
use super::ratelimit::{self, Limiter};
use super::routes;
use super::state::AppState;
use crate::config::{self, ApiSettings};
use crate::db;

/// Helmet 8's defaults minus CORP and COEP, which the original turned off.
const SECURITY_HEADERS: [(&str, &str); 11] = [
    (
        "Content-Security-Policy",
        "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';\
         frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';\
         script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests",
    ),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Origin-Agent-Cluster", "?1"),
    ("Referrer-Policy", "no-referrer"),
    (
        "Strict-Transport-Security",
        "max-age=31536000; includeSubDomains",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-DNS-Prefetch-Control", "off"),
    ("X-Download-Options", "noopen"),
    ("X-Frame-Options", "SAMEORIGIN"),
    ("X-Permitted-Cross-Domain-Policies", "none"),
    ("X-XSS-Protection", "0"),
];

fn cors(settings: &config::Cors) -> Cors {
    let base = Cors::default()
        .allowed_methods(["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"])
        .allow_any_header()
        .expose_headers([
            "x-correlation-id",
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
            "ratelimit-policy",
            "retry-after",
        ])
        // A disallowed origin is served without CORS headers (the browser blocks it), as before.
        .block_on_origin_mismatch(false);
    match settings {
        // Any origin, but never with credentials: a literal `*`, which browsers do not combine
        // with cookies or auth headers (the original reflected the origin and allowed both).
        config::Cors::AnyOrigin => base.allow_any_origin().send_wildcard(),
        config::Cors::Origins(origins) => origins
            .iter()
            .fold(base.supports_credentials(), |cors, origin| {
                cors.allowed_origin(origin)
            }),
        config::Cors::Disabled => base,
    }
}

pub struct Application {
    port: u16,
    server: Server,
    pool: db::PgPool,
}

impl Application {
    pub fn build(settings: ApiSettings) -> anyhow::Result<Self> {
        let address = (settings.host, settings.port);
        let listener = TcpListener::bind(address).with_context(|| {
            format!(
                "cannot listen on {}:{} — is another process using the port? pass --port or set WORKSPACE_PORT",
                settings.host, settings.port
            )
        })?;
        Self::with_listener(settings, listener)
    }

    pub fn with_listener(settings: ApiSettings, listener: TcpListener) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let pool = db::pool(&settings.database)?;
        let state = web::Data::new(AppState::new(pool.clone()));
        let metrics = web::Data::new(Metrics::new());
        let limiter = Limiter::new(&settings.rate_limit);
        let cors_settings = settings.cors.clone();
        let cors_enabled = !matches!(cors_settings, config::Cors::Disabled);
        let limiter_data = limiter.clone().map(web::Data::new);
        let guard = web::Data::new(Guard::new(
            settings.host,
            &settings.allowed_hosts,
            &settings.trusted_origins,
        )?);
        let body_limits = web::Data::new(BodyLimits::new(settings.body_read_timeout));
        if let (Some(l), Ok(_)) = (&limiter, tokio::runtime::Handle::try_current()) {
            Arc::clone(l).spawn_cleanup();
        }
        let mut server = HttpServer::new(move || {
            let mut security = DefaultHeaders::new();
            for header in SECURITY_HEADERS {
                security = security.add(header);
            }
            let mut app = App::new()
                .app_data(state.clone())
                .app_data(metrics.clone())
                .app_data(guard.clone())
                .app_data(body_limits.clone());
            if let Some(l) = &limiter_data {
                app = app.app_data(l.clone());
            }
            app.configure(routes::configure)
                .default_service(web::to(routes::not_found))
                .wrap(from_fn(limits::buffer_body))
                .wrap(from_fn(ratelimit::limit))
                .wrap(from_fn(guard::check))
                .wrap(Condition::new(cors_enabled, cors(&cors_settings)))
                .wrap(security)
                .wrap(Compress::default())
                .wrap(from_fn(observe))
        })
        .shutdown_timeout(settings.shutdown_timeout.as_secs());
        if let Some(n) = settings.workers {
            server = server.workers(n);
        }
        let server = server.listen(listener)?.run();
        tracing::info!(
            address = %format!("{}:{port}", settings.host),
            database = %settings.database.describe(),
            "workspace-api listening"
        );
        Ok(Application { port, server, pool })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs until SIGINT/SIGTERM (actix handles both: in-flight requests get the shutdown
    /// timeout to finish), then closes the pool.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.pool.close();
        tracing::info!("workspace-api stopped");
        result
    }

    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}
