//! Error and refusal pages: HTML for a browser's page, JSON for anything else. Used by the
//! guard before any page code runs, so it depends on nothing else of the console.

use actix_web::http::header::{ACCEPT, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use maud::{html, DOCTYPE};

fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// A refusal or an error: HTML for a browser's page, JSON for anything else.
pub fn error_page(
    req: &HttpRequest,
    status: StatusCode,
    title: &str,
    detail: &str,
) -> HttpResponse {
    if !wants_html(req) {
        return HttpResponse::build(status).json(serde_json::json!({
            "success": false, "error": title, "message": detail,
        }));
    }
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { (title) } link rel="stylesheet" href="/assets/console.css"; }
            body { main { h1 { (title) } p.error { (detail) } p { a href="/" { "Back to the overview" } } } }
        }
    };
    HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .body(markup.into_string())
}
