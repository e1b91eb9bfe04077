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
    /// Proxies in front of the API that append to X-Forwarded-For (0: ignore the header).
    trust_proxy_hops: u32,
}

const EXEMPT: [&str; 4] = ["/health", "/ready", "/healthz", "/metrics"];

impl Limiter {
    /// `None` when limiting is off (`max == 0`).
    pub fn new(settings: &RateLimit) -> Option<Arc<Self>> {
        let max = NonZeroU32::new(settings.max)?;
        let period = (settings.window / max.get()).max(Duration::from_nanos(1));
        // `with_period` is `None` only for a zero period, which the `max(1 ns)` above rules out.
        let quota = Quota::with_period(period)?.allow_burst(max);
        Some(Arc::new(Limiter {
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            max: max.get(),
            window: settings.window,
            period,
            trust_proxy_hops: settings.trust_proxy_hops,
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
        let peer = req.peer_addr().map(|a| a.ip());
        if self.trust_proxy_hops == 0 {
            return peer;
        }
        // Every X-Forwarded-For line, in order (a proxy may add its own line).
        let entries: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        forwarded_client(&entries, self.trust_proxy_hops).or(peer)
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

/// The client as the trusted proxies saw it: the entry `hops` from the right, since each of the
/// `hops` proxies appended the address it received the request from, and everything to the left
/// of those is whatever the client wrote. With fewer entries than hops, the leftmost one (as
/// express does). `None` when that entry is not an address, so the peer is used instead.
fn forwarded_client(entries: &[&str], hops: u32) -> Option<IpAddr> {
    let from_right = (hops as usize).min(entries.len());
    let entry = entries.get(entries.len().checked_sub(from_right)?)?;
    parse_address(entry)
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1` or `[::1]:80`.
fn parse_address(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    entry
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|a| a.ip())
        .or_else(|| {
            entry
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .ok()
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_the_trusted_proxies_appended_is_the_client() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let spoofed = ["6.6.6.6", "203.0.113.7"];
        assert_eq!(forwarded_client(&spoofed, 1), ip("203.0.113.7"));
        assert_eq!(forwarded_client(&spoofed, 2), ip("6.6.6.6"));
        assert_eq!(forwarded_client(&spoofed, 5), ip("6.6.6.6"));
        assert_eq!(forwarded_client(&["10.0.0.1:443"], 1), ip("10.0.0.1"));
        assert_eq!(forwarded_client(&["[::1]:80"], 1), ip("::1"));
        assert_eq!(forwarded_client(&["unknown"], 1), None);
        assert_eq!(forwarded_client(&[], 1), None);
    }
}
