//! Per-client rate limiting with the draft-6 `RateLimit-*` headers the original sent.
//!
//! The limiter itself is `governor` (GCRA, keyed by client IP): a client gets `max` requests
//! as a burst, refilled evenly over the window, which matches a fixed window for a steady
//! client without the double burst at window edges. Probes (`/health`, `/ready`, `/healthz`,
//! `/metrics`) are exempt so a busy client cannot make the service look dead.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use serde_json::json;

use crate::config::RateLimit;

type Keyed =
    RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock, StateInformationMiddleware>;

pub struct Limiter {
    limiter: Keyed,
    max: u32,
    window: Duration,
    /// Time for one request's worth of quota to come back.
    period: Duration,
    trust_proxy: bool,
}

const EXEMPT: [&str; 4] = ["/health", "/ready", "/healthz", "/metrics"];

impl Limiter {
    /// `None` when limiting is off (`max == 0`).
    pub fn new(settings: &RateLimit) -> Option<Arc<Self>> {
        let max = NonZeroU32::new(settings.max)?;
        let period = (settings.window / max.get()).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .expect("period is non-zero")
            .allow_burst(max);
        Some(Arc::new(Limiter {
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            max: max.get(),
            window: settings.window,
            period,
            trust_proxy: settings.trust_proxy,
        }))
    }

    /// Forgets clients whose quota is full again, so memory follows active clients only.
    pub fn spawn_cleanup(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let every = self.window.max(Duration::from_secs(1));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(this) = weak.upgrade() else { break };
                this.limiter.retain_recent();
                this.limiter.shrink_to_fit();
            }
        });
    }

    fn client_ip(&self, req: &ServiceRequest) -> Option<IpAddr> {
        if self.trust_proxy {
            let forwarded = req
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse().ok());
            if forwarded.is_some() {
                return forwarded;
            }
        }
        req.peer_addr().map(|a| a.ip())
    }

    fn set_headers(&self, headers: &mut HeaderMap, remaining: u32) {
        let reset = self.period.as_secs_f64() * f64::from(self.max - remaining.min(self.max));
        let pairs = [
            (
                "ratelimit-policy",
                format!("{};w={}", self.max, self.window.as_secs().max(1)),
            ),
            ("ratelimit-limit", self.max.to_string()),
            ("ratelimit-remaining", remaining.to_string()),
            ("ratelimit-reset", (reset.ceil() as u64).to_string()),
        ];
        for (name, value) in pairs {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), v);
            }
        }
    }
}

pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let limiter = req.app_data::<web::Data<Arc<Limiter>>>().cloned();
    let exempt = req.method() == Method::OPTIONS || EXEMPT.contains(&req.path());
    let (Some(limiter), false) = (limiter, exempt) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let Some(ip) = limiter.client_ip(&req) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    match limiter.limiter.check_key(&ip) {
        Ok(snapshot) => {
            let mut res = next.call(req).await?;
            limiter.set_headers(res.headers_mut(), snapshot.remaining_burst_capacity());
            Ok(res.map_into_left_body())
        }
        Err(not_until) => {
            let wait = not_until.wait_time_from(limiter.limiter.clock().now());
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            let mut response = HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", secs.to_string()))
                .json(json!({
                    "success": false,
                    "error": "Too Many Requests",
                    "message": "Too many requests from this IP, please try again later.",
                    "retryAfter": secs.to_string(),
                }));
            limiter.set_headers(response.headers_mut(), 0);
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}
