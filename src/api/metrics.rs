//! Prometheus metrics and the per-request observer: correlation id, one log line, and the
//! request counter and duration histogram labelled method/route/status.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use rand::Rng;
use tracing::Instrument;

pub const CORRELATION_HEADER: &str = "x-correlation-id";
/// Correlation ids of `wsctl test`'s round trip start with this; their request lines are
/// logged at debug level, so the health suite does not fill the API's log. It hides nothing:
/// `RUST_LOG=debug` shows them, and metrics count them as any other request.
pub const HEALTH_CHECK_PREFIX: &str = "wsctl-health-";

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl Metrics {
    // Static definitions: they fail at start-up (and in every test), never on a request.
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        // The prefix puts every series, process ones included, under `workspace_api_`, as the
        // original's prom-client setup did.
        let registry = Registry::new_custom(Some("workspace_api".into()), None)
            .expect("static registry settings are valid");
        let labels = &["method", "route", "status"];
        let requests = IntCounterVec::new(
            Opts::new("requests_total", "HTTP requests answered"),
            labels,
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "request_duration_seconds",
                "HTTP request duration in seconds",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.3, 0.5, 0.7, 1.0, 3.0, 5.0, 7.0, 10.0,
            ]),
            labels,
        )
        .expect("valid metric");
        registry
            .register(Box::new(requests.clone()))
            .expect("registered once");
        registry
            .register(Box::new(duration.clone()))
            .expect("registered once");
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("registered once");
        Metrics {
            registry,
            requests,
            duration,
        }
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding the metrics failed");
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.duration.with_label_values(&labels).observe(seconds);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The route label: the pattern relative to its router (`/`, `/:id`, `/:name/toggle`), as the
/// original reported it. Unmatched paths share one label so scanners cannot blow up the
/// series count.
pub fn route_label(pattern: Option<&str>) -> String {
    let Some(pattern) = pattern else {
        return "unmatched".into();
    };
    let relative = ["/api/items", "/api/categories", "/items", "/categories"]
        .iter()
        .find_map(|p| pattern.strip_prefix(p))
        .unwrap_or(pattern);
    let relative = if relative.is_empty() { "/" } else { relative };
    relative.replace('{', ":").replace('}', "")
}

/// Keeps a client's correlation id if it is short and plain (it ends up in logs), otherwise
/// makes one in the original's `<ms>-<9 base36>` form.
fn correlation_id(req: &ServiceRequest) -> String {
    let given = req
        .headers()
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        });
    if let Some(id) = given {
        return id.to_string();
    }
    let mut rng = rand::thread_rng();
    let suffix: String = (0..9)
        .map(|_| char::from_digit(rng.gen_range(0..36), 36).unwrap_or('0'))
        .collect();
    format!("{}-{suffix}", chrono::Utc::now().timestamp_millis())
}

#[derive(Clone)]
pub struct CorrelationId(pub String);

pub async fn observe(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = correlation_id(&req);
    req.extensions_mut().insert(CorrelationId(id.clone()));
    // `x-no-compression` opts out of gzip, as before: hide Accept-Encoding from Compress.
    if req.headers().contains_key("x-no-compression") {
        req.headers_mut()
            .remove(actix_web::http::header::ACCEPT_ENCODING);
    }
    let method = req.method().to_string();
    let url = match req.query_string() {
        "" => req.path().to_string(),
        q => format!("{}?{q}", req.path()),
    };
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let span = tracing::info_span!("request", correlation_id = %id);
    let mut res = next.call(req).instrument(span).await?;
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    let route = route_label(res.request().match_pattern().as_deref());
    if let Some(metrics) = metrics {
        metrics.observe(&method, &route, status, elapsed.as_secs_f64());
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(CORRELATION_HEADER), value);
    }
    let line = format!(
        "{method} {url} {status} {:.1}ms",
        elapsed.as_secs_f64() * 1000.0
    );
    let ms = elapsed.as_secs_f64() * 1000.0;
    if id.starts_with(HEALTH_CHECK_PREFIX) {
        tracing::debug!(event = "http_request", method = %method, url = %url, status, duration_ms = ms, correlation_id = %id, "{line}");
    } else {
        tracing::info!(event = "http_request", method = %method, url = %url, status, duration_ms = ms, correlation_id = %id, "{line}");
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::route_label;

    #[test]
    fn route_labels_are_router_relative() {
        assert_eq!(route_label(Some("/api/items")), "/");
        assert_eq!(route_label(Some("/items/{id}")), "/:id");
        assert_eq!(
            route_label(Some("/api/categories/{name}/toggle")),
            "/:name/toggle"
        );
        assert_eq!(route_label(Some("/health")), "/health");
        assert_eq!(route_label(None), "unmatched");
    }
}
