//! Who may use the console. It can destroy data, so reaching its port is not enough:
//!
//! - the URL `wsctl up` / `wsctl console` prints carries the stack's token (a 0600 file);
//!   `/login` exchanges it for a session cookie (HttpOnly, SameSite=Strict) and redirects to
//!   a URL without it, so it stays out of the history and of Referer headers;
//! - every other page needs that cookie;
//! - the console answers only under loopback names (`Host`), so a page that re-points its DNS
//!   name at 127.0.0.1 (DNS rebinding) gets nothing;
//! - a request that changes something must come from the console's own origin (`Origin`,
//!   which browsers send on every POST) and carry the session's CSRF token (a form field).
//!
//! The same ideas as the API's guard (src/api/guard.rs), for a site with a login.

use std::sync::Mutex;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HOST, LOCATION, ORIGIN};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{reply, Console};

const COOKIE: &str = "wsconsole";
/// Enough for a few browsers; the oldest goes first.
const MAX_SESSIONS: usize = 32;

/// The stack's token and the sessions it opened: session id → CSRF token.
pub struct Sessions {
    token: String,
    open: Mutex<Vec<(String, String)>>,
}

/// What a page needs of the session it renders for.
#[derive(Clone)]
pub struct Session {
    pub csrf: String,
}

fn random_token() -> String {
    crate::stack::postgres::generate_password()
}

/// Compares without stopping at the first difference: the time taken says nothing about
/// how much of a guess was right.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Sessions {
    pub fn new(token: String) -> Self {
        Sessions {
            token,
            open: Mutex::new(Vec::new()),
        }
    }

    /// A new session for a correct token: (session id, CSRF token).
    fn open(&self, token: &str) -> Option<String> {
        if !same(token, &self.token) {
            return None;
        }
        let id = random_token();
        let mut open = self.open.lock().ok()?;
        if open.len() >= MAX_SESSIONS {
            open.remove(0);
        }
        open.push((id.clone(), random_token()));
        Some(id)
    }

    fn find(&self, id: &str) -> Option<Session> {
        let open = self.open.lock().ok()?;
        open.iter()
            .find(|(sid, _)| same(sid, id))
            .map(|(_, csrf)| Session { csrf: csrf.clone() })
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    token: Option<String>,
}

/// `GET /login?token=…`: the printed URL. A session cookie, then the overview without the
/// token in the address bar.
pub async fn login(
    req: HttpRequest,
    console: web::Data<Console>,
    q: web::Query<LoginQuery>,
) -> HttpResponse {
    let Some(id) = q.token.as_deref().and_then(|t| console.sessions.open(t)) else {
        return reply::error_page(
            &req,
            StatusCode::FORBIDDEN,
            "Wrong or missing token",
            "Open the URL that `wsctl console` prints (it carries this stack's token).",
        );
    };
    let cookie = Cookie::build(COOKIE, id)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish();
    HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((LOCATION, "/"))
        .finish()
}

/// The names the console answers under: loopback only (any port: an ssh -L forward changes it).
fn host_allowed(host: Option<&str>) -> bool {
    let Some(host) = host else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    matches!(
        name.to_ascii_lowercase().as_str(),
        "127.0.0.1" | "localhost" | "::1"
    )
}

/// Whether `Origin` is the console itself, as reached (the Host already passed).
fn origin_allowed(origin: Option<&str>, host: Option<&str>) -> bool {
    match (origin, host) {
        (Some(o), Some(h)) => same(
            &o.to_ascii_lowercase(),
            &format!("http://{h}").to_ascii_lowercase(),
        ),
        _ => false,
    }
}

fn refuse(req: &HttpRequest, why: &str) -> HttpResponse {
    reply::error_page(req, StatusCode::FORBIDDEN, "Refused", why)
}

/// Checks the Host, the session cookie and, for a change, the Origin (the CSRF token is
/// checked by each action, with its form: see [`csrf_ok`]).
fn check(req: &ServiceRequest, console: &Console) -> Result<Option<Session>, &'static str> {
    let host = req.headers().get(HOST).and_then(|h| h.to_str().ok());
    if !host_allowed(host) {
        return Err("the console answers only at 127.0.0.1 or localhost");
    }
    let path = req.path();
    if path == "/login" || path == "/health" || path.starts_with("/assets/") {
        return Ok(None);
    }
    let session = req
        .cookie(COOKIE)
        .and_then(|c| console.sessions.find(c.value()))
        .ok_or("no console session — open the URL that `wsctl console` prints")?;
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let origin = req.headers().get(ORIGIN).and_then(|h| h.to_str().ok());
        if !origin_allowed(origin, host) {
            return Err("a change must come from the console's own page (Origin)");
        }
    }
    Ok(Some(session))
}

/// The middleware: a refusal is a 403 (HTML for a browser page, JSON otherwise) before any
/// handler runs.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let verdict = match req.app_data::<web::Data<Console>>() {
        Some(console) => check(&req, console),
        None => Err("console not configured"),
    };
    match verdict {
        Ok(session) => {
            if let Some(s) = session {
                req.extensions_mut().insert(s);
            }
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(why) => {
            let response = refuse(req.request(), why);
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

/// The session the guard let through (every page but /login, /health and assets has one).
pub fn session(req: &HttpRequest) -> Session {
    req.extensions()
        .get::<Session>()
        .cloned()
        .unwrap_or(Session {
            csrf: String::new(),
        })
}

/// Whether a form's CSRF token is its session's.
pub fn csrf_ok(req: &HttpRequest, token: &str) -> bool {
    let s = session(req);
    !s.csrf.is_empty() && same(&s.csrf, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_only() {
        for ok in ["127.0.0.1:3201", "localhost:1", "LOCALHOST", "[::1]:3201"] {
            assert!(host_allowed(Some(ok)), "{ok}");
        }
        for bad in ["evil.example:3201", "127.0.0.1.evil:1", "", "10.0.0.1:3201"] {
            assert!(!host_allowed(Some(bad)), "{bad}");
        }
        assert!(!host_allowed(None));
    }

    #[test]
    fn origin_must_be_the_console_as_reached() {
        let h = Some("127.0.0.1:3201");
        assert!(origin_allowed(Some("http://127.0.0.1:3201"), h));
        assert!(!origin_allowed(Some("http://evil.example"), h));
        assert!(!origin_allowed(Some("null"), h));
        assert!(!origin_allowed(None, h));
    }

    #[test]
    fn sessions_need_the_token() {
        let s = Sessions::new("secret-token".into());
        assert!(s.open("wrong").is_none());
        let id = s.open("secret-token").unwrap();
        assert!(s.find(&id).is_some());
        assert!(s.find("other").is_none());
    }
}
