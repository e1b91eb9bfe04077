//! What a browser may make the API do: answer only under its own names (so a page that
//! re-points its DNS name at this machine, a DNS rebinding attack, is refused), and take writes
//! only as JSON from trusted origins (so a form on any website cannot post to it).
//!
//! A page can choose the *name* it talks to, never the port of another machine: so the name in
//! `Host` is checked, the port is not (port forwards such as `docker -p` or `ssh -L` change it
//! legitimately). An IP literal cannot be rebound, so one of this machine's addresses passes.
//! Writes need `Content-Type: application/json` (a body without one is refused), which no
//! HTML form can send and which makes any cross-site `fetch` ask first (a CORS preflight), and
//! an `Origin`, when the browser sends one, from the CORS list or the API's own origin.

use std::net::IpAddr;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{
    HeaderMap, CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, TRANSFER_ENCODING,
};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use serde_json::json;

/// Where requests may come from, built once from the settings.
#[derive(Debug, Clone)]
pub struct Guard {
    bind: IpAddr,
    /// `None`: any Host (`ALLOWED_HOSTS=*`).
    names: Option<Vec<HostName>>,
    /// Lower-cased, without a trailing slash; `*` means any.
    origins: Vec<String>,
}

/// An `ALLOWED_HOSTS` entry: `name`, `name:port`, or `.domain` for the domain and its subdomains.
#[derive(Debug, Clone, PartialEq)]
struct HostName {
    name: String,
    subdomains: bool,
    port: Option<u16>,
}

impl Guard {
    pub fn new(
        bind: IpAddr,
        allowed_hosts: &[String],
        trusted_origins: &[String],
    ) -> anyhow::Result<Self> {
        let names = if allowed_hosts.iter().any(|h| h == "*") {
            None
        } else {
            Some(
                allowed_hosts
                    .iter()
                    .map(|h| HostName::parse(h))
                    .collect::<anyhow::Result<_>>()?,
            )
        };
        let origins = trusted_origins
            .iter()
            .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
            .collect();
        Ok(Guard {
            bind,
            names,
            origins,
        })
    }

    /// `Host` is one of this API's names. A request without one (HTTP/1.0) is not from a browser.
    fn host_allowed(&self, host: Option<&str>) -> bool {
        let Some(names) = &self.names else {
            return true;
        };
        let Some((name, port)) = host.map(split_host) else {
            return true;
        };
        let Some(name) = name else { return false };
        if name == "localhost" {
            return true;
        }
        if let Ok(ip) = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return ip.is_loopback() || ip == self.bind || self.bind.is_unspecified();
        }
        names.iter().any(|n| n.matches(&name, port))
    }

    /// A state-changing request's `Origin`, if the browser sent one, is trusted.
    fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim().to_ascii_lowercase();
        if self.origins.iter().any(|o| o == "*" || *o == origin) {
            return true;
        }
        // The API's own origin (a page served under the same name): only when Host is checked,
        // or a rebound name would count as the API's own.
        let own = origin.split_once("://").map(|(_, authority)| authority);
        self.names.is_some()
            && own.is_some()
            && own == host.map(|h| h.to_ascii_lowercase()).as_deref()
    }

    fn check(&self, req: &ServiceRequest) -> Result<(), Refusal> {
        let headers = req.headers();
        let host = header(headers, HOST.as_str());
        if !self.host_allowed(host) {
            return Err(refusal(
                StatusCode::FORBIDDEN,
                "ForbiddenError",
                format!(
                    "Host {:?} is not a name of this API; if it is (a gateway's public name), add it to ALLOWED_HOSTS",
                    host.unwrap_or_default()
                ),
            ));
        }
        if !writes(req.method()) {
            return Ok(());
        }
        if let Some(origin) = header(headers, ORIGIN.as_str()) {
            if !self.origin_allowed(origin, host) {
                return Err(refusal(
                    StatusCode::FORBIDDEN,
                    "ForbiddenError",
                    format!(
                        "writes from pages on {origin:?} are not allowed; add the origin to CORS_ORIGIN if it is one of your clients"
                    ),
                ));
            }
        }
        match header(headers, CONTENT_TYPE.as_str()) {
            Some(ct) if is_json(ct) => Ok(()),
            None if !has_body(headers) => Ok(()),
            ct => Err(refusal(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                format!(
                    "Content-Type {:?} is not supported; send the body as application/json",
                    ct.unwrap_or_default()
                ),
            )),
        }
    }
}

impl HostName {
    fn parse(entry: &str) -> anyhow::Result<Self> {
        let (name, port) = split_host(entry);
        let Some(name) = name else {
            anyhow::bail!(
                "ALLOWED_HOSTS entry {entry:?} is not a host name (use name, name:port or .domain)"
            );
        };
        if entry
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.ends_with(']') && p.parse::<u16>().is_err())
        {
            anyhow::bail!("ALLOWED_HOSTS entry {entry:?} has an invalid port");
        }
        Ok(match name.strip_prefix('.') {
            Some(domain) => HostName {
                name: domain.to_string(),
                subdomains: true,
                port,
            },
            None => HostName {
                name,
                subdomains: false,
                port,
            },
        })
    }

    fn matches(&self, name: &str, port: Option<u16>) -> bool {
        let name_ok = name == self.name
            || (self.subdomains
                && name
                    .strip_suffix(&self.name)
                    .is_some_and(|s| s.ends_with('.')));
        name_ok && (self.port.is_none() || self.port == port)
    }
}

/// `Host` split into a normalised name (lower case, no trailing dot) and port. `None` as the
/// name when it cannot be one (user info, an empty name).
fn split_host(host: &str) -> (Option<String>, Option<u16>) {
    let host = host.trim().to_ascii_lowercase();
    let (name, port) = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => (&host[..i], host[i + 1..].parse().ok()),
        _ => (host.as_str(), None),
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.contains(['@', '/', ' ']) {
        return (None, port);
    }
    (Some(name.to_string()), port)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"))
}

fn writes(method: &Method) -> bool {
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method)
}

fn is_json(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(TRANSFER_ENCODING)
        || header(headers, CONTENT_LENGTH.as_str()).is_some_and(|n| n.trim() != "0")
}

/// Why a request was refused, sent in the original's error envelope.
struct Refusal {
    status: StatusCode,
    error: &'static str,
    message: String,
}

fn refusal(status: StatusCode, error: &'static str, message: String) -> Refusal {
    Refusal {
        status,
        error,
        message,
    }
}

impl Refusal {
    fn response(self) -> HttpResponse {
        HttpResponse::build(self.status)
            .json(json!({"success": false, "error": self.error, "message": self.message}))
    }
}

/// The middleware: refuses before anything else runs (the limiter, the body read, a handler).
pub async fn check(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let refused = req
        .app_data::<web::Data<Guard>>()
        .and_then(|guard| guard.check(&req).err());
    match refused {
        None => Ok(next.call(req).await?.map_into_left_body()),
        Some(refusal) => Ok(req.into_response(refusal.response()).map_into_right_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(hosts: &[&str]) -> Guard {
        let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        Guard::new(
            [127, 0, 0, 1].into(),
            &hosts,
            &["http://localhost:3400".into()],
        )
        .unwrap()
    }

    #[test]
    fn loopback_and_listed_names_are_served_others_refused() {
        let g = guard(&["ws.example.com", ".corp.example", "gw.example:9080"]);
        for ok in [
            "localhost:3200",
            "127.0.0.1:3200",
            "[::1]:3200",
            "LOCALHOST",
            "localhost.:1",
            "ws.example.com",
            "a.b.corp.example:443",
            "corp.example",
            "gw.example:9080",
        ] {
            assert!(g.host_allowed(Some(ok)), "{ok}");
        }
        for bad in [
            "rebind.attacker.example:3200",
            "ws.example.com.evil",
            "xcorp.example",
            "gw.example:9081",
            "10.1.2.3:3200",
            "user@localhost",
            "",
        ] {
            assert!(!g.host_allowed(Some(bad)), "{bad}");
        }
        assert!(g.host_allowed(None));
        assert!(guard(&["*"]).host_allowed(Some("anything.example")));
        let all = Guard::new([0, 0, 0, 0].into(), &[], &[]).unwrap();
        assert!(all.host_allowed(Some("172.25.0.4:3200")));
        assert!(!all.host_allowed(Some("evil.example")));
    }

    #[test]
    fn origins_are_listed_or_the_apis_own() {
        let g = guard(&[]);
        assert!(g.origin_allowed("http://localhost:3400", Some("localhost:3200")));
        assert!(g.origin_allowed("http://127.0.0.1:3200", Some("127.0.0.1:3200")));
        assert!(!g.origin_allowed("https://evil.example", Some("localhost:3200")));
        assert!(!g.origin_allowed("null", Some("localhost:3200")));
        // With the Host check off, a rebound name is not the API's own.
        assert!(
            !guard(&["*"]).origin_allowed("http://evil.example:3200", Some("evil.example:3200"))
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let err = Guard::new([127, 0, 0, 1].into(), &["ws:http".into()], &[]).unwrap_err();
        assert!(err.to_string().contains("ws:http"), "{err}");
    }
}
