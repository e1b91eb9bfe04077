//! `/openapi.json`, generated from the handlers' annotations and the wire types, so it cannot
//! drift from the code. The bare `/items` and `/categories` mounts are added as copies of the
//! `/api/...` paths.

use actix_web::HttpResponse;
use utoipa::openapi::schema::{AdditionalProperties, Schema};
use utoipa::openapi::RefOr;
use utoipa::OpenApi;

use super::{categories, health, items};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Workspace API",
        description = "Items and categories of the TradingSystem Workspace. Every route is also \
                       mounted without the /api prefix. All responses carry x-correlation-id; \
                       rate-limited routes carry RateLimit-* headers and answer 429 with \
                       Retry-After when the limit is reached."
    ),
    paths(
        items::list, items::stats, items::get, items::create, items::update, items::delete,
        categories::list, categories::stats, categories::get, categories::validate,
        categories::create, categories::update, categories::delete, categories::toggle,
        categories::invalidate_cache,
        health::health, health::ready, health::healthz, health::metrics,
    ),
    components(schemas(
        crate::api::view::RateLimitedResponse,
        crate::domain::FieldError,
    )),
    tags(
        (name = "items", description = "Workspace items"),
        (name = "categories", description = "Item categories"),
        (name = "health", description = "Probes and metrics; not rate-limited"),
    )
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let bare: Vec<(String, utoipa::openapi::PathItem)> = doc
        .paths
        .paths
        .iter()
        .filter_map(|(path, item)| {
            let rest = path.strip_prefix("/api")?;
            let mut item = item.clone();
            // Operation ids must be unique across the document.
            for op in operations(&mut item) {
                op.operation_id = op.operation_id.take().map(|id| format!("{id}_bare"));
                op.tags = Some(vec!["bare mounts".into()]);
            }
            Some((rest.to_string(), item))
        })
        .collect();
    for (path, item) in bare {
        doc.paths.paths.insert(path, item);
    }
    // The update body is strict (unknown keys are a 400); the derive cannot say so itself.
    if let Some(components) = doc.components.as_mut() {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut("UpdateItemBody")
        {
            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
    }
    doc
}

fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(document())
}
