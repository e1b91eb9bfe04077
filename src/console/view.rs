//! The page shell (navigation, the session's CSRF token for forms), error pages, and the
//! stylesheet and script, compiled into the binary.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse};
use maud::{html, Markup, DOCTYPE};

use super::auth;

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

const NAV: [(&str, &str); 5] = [
    ("/", "Overview"),
    ("/branches", "Branches"),
    ("/migrations", "Migrations"),
    ("/imports", "Imports"),
    ("/logs", "Logs"),
];

pub async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/css; charset=utf-8"))
        .body(CSS)
}

pub async fn js() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .body(JS)
}

/// A whole page: `body` goes into `<main id="live">`, which the script refreshes when the
/// stack changes.
pub fn page(req: &HttpRequest, title: &str, body: Markup) -> HttpResponse {
    let csrf = auth::session(req).csrf;
    let path = req.path().to_string();
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Workspace Stack" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                header {
                    span.brand { "Workspace Stack" }
                    nav {
                        @for (href, name) in NAV {
                            a href=(href) class=[(href == path).then_some("active")] { (name) }
                        }
                    }
                    span #live-dot title="live updates" {}
                }
                main #live data-csrf=(csrf) { (body) }
            }
        }
    };
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .body(markup.into_string())
}

/// The hidden field every form that changes something carries.
pub fn csrf_field(req: &HttpRequest) -> Markup {
    html! { input type="hidden" name="csrf" value=(auth::session(req).csrf); }
}

pub fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// "3 m 12 s" style, for uptimes.
pub fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} m {} s", s / 60, s % 60),
        s if s < 86_400 => format!("{} h {} m", s / 3600, (s % 3600) / 60),
        s => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A URL with a button that copies it.
pub fn copyable(label: &str, url: &str) -> Markup {
    html! {
        div.url {
            span.label { (label) }
            code { (url) }
            button type="button" data-copy=(url) { "copy" }
        }
    }
}

/// The health suite's checks as a table.
pub fn checks(checks: &[crate::health::Check]) -> Markup {
    html! {
        table.checks {
            thead { tr { th { "check" } th { "result" } th.num { "ms" } th { "detail" } } }
            tbody {
                @for c in checks {
                    @let pass = c.status == crate::health::Outcome::Pass;
                    tr class=(if pass { "pass" } else { "fail" }) {
                        td { (c.name) }
                        td { (if pass { "PASS" } else { "FAIL" }) }
                        td.num { (format!("{:.1}", c.duration_ms)) }
                        td { (c.detail) }
                    }
                }
            }
        }
    }
}
