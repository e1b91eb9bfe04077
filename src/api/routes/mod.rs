//! Route table. Items and categories are mounted twice, under `/api/...` and bare (a gateway
//! rewrites `/api/workspace/X` to `/X`); `stats` comes before `{id}` so it is reachable.

pub mod categories;
pub mod health;
pub mod items;
pub mod openapi;

use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::catch_panic::catch_panic;

/// The original's catch-all: `Cannot <METHOD> <path and query>`.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    let uri = req.uri();
    let target = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    HttpResponse::NotFound().json(json!({
        "success": false,
        "error": "NotFound",
        "message": format!("Cannot {} {target}", req.method()),
    }))
}

fn resource(
    path: &str,
) -> actix_web::Resource<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    // An existing path with another method answers like an unknown path did (404 JSON),
    // not actix's empty 405. The panic catcher sits here, after routing, because it keeps a
    // handle on the request, and the router needs the only one.
    web::resource(path)
        .default_service(web::to(not_found))
        .wrap(from_fn(catch_panic))
}

fn items_scope(prefix: &str) -> actix_web::Scope {
    let list = |path| {
        resource(path)
            .route(web::get().to(items::list))
            .route(web::post().to(items::create))
    };
    web::scope(prefix)
        .service(list(""))
        .service(list("/"))
        .service(resource("/stats").route(web::get().to(items::stats)))
        .service(
            resource("/{id}")
                .route(web::get().to(items::get))
                .route(web::put().to(items::update))
                .route(web::delete().to(items::delete)),
        )
}

fn categories_scope(prefix: &str) -> actix_web::Scope {
    let list = |path| {
        resource(path)
            .route(web::get().to(categories::list))
            .route(web::post().to(categories::create))
    };
    web::scope(prefix)
        .service(list(""))
        .service(list("/"))
        .service(resource("/stats").route(web::get().to(categories::stats)))
        .service(resource("/validate").route(web::post().to(categories::validate)))
        .service(resource("/invalidate-cache").route(web::post().to(categories::invalidate_cache)))
        .service(resource("/{name}/toggle").route(web::patch().to(categories::toggle)))
        .service(
            resource("/{name}")
                .route(web::get().to(categories::get))
                .route(web::put().to(categories::update))
                .route(web::delete().to(categories::delete)),
        )
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/health").route(web::get().to(health::health)))
        .service(resource("/ready").route(web::get().to(health::ready)))
        .service(resource("/healthz").route(web::get().to(health::healthz)))
        .service(resource("/metrics").route(web::get().to(health::metrics)))
        .service(resource("/openapi.json").route(web::get().to(openapi::serve)))
        .service(items_scope("/api/items"))
        .service(items_scope("/items"))
        .service(categories_scope("/api/categories"))
        .service(categories_scope("/categories"));
}
