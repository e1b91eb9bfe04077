//! `/openapi.json`, generated from the handlers' annotations and the wire types, so it cannot
//! drift from the code. The bare `/items` and `/categories` mounts are added as copies of the
//! `/api/...` paths.

use actix_web::HttpResponse;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{AdditionalProperties, AnyOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, Required};
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

/// The document as served. Links are added to the JSON: utoipa 5.5 writes a link's
/// `operationId` as `operation_id`, which no client understands.
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(typed_document()).unwrap_or_default();
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return doc;
    };
    for (path, item) in paths.iter_mut() {
        let suffix = if path.starts_with("/api/") {
            ""
        } else {
            "_bare"
        };
        let Some(created) = item.pointer_mut("/post/responses/201") else {
            continue;
        };
        let targets: &[(&str, &str)] = match path.trim_start_matches("/api") {
            "/items" => &[
                ("getItem", "id"),
                ("updateItem", "id"),
                ("deleteItem", "id"),
            ],
            "/categories" => &[
                ("getCategory", "name"),
                ("updateCategory", "name"),
                ("toggleCategory", "name"),
                ("deleteCategory", "name"),
            ],
            _ => &[],
        };
        // What a client (and a stateful tester) can do with what it has just created.
        let links: serde_json::Map<String, serde_json::Value> = targets
            .iter()
            .map(|(op, param)| {
                (
                    op.to_string(),
                    serde_json::json!({
                        "operationId": format!("{op}{suffix}"),
                        "parameters": {*param: format!("$response.body#/data/{param}")},
                    }),
                )
            })
            .collect();
        created["links"] = serde_json::Value::Object(links);
    }
    doc
}

fn typed_document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            describe_exactly(op);
        }
    }
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

/// What the annotations cannot say by themselves, each decided by what the original accepted.
fn describe_exactly(op: &mut Operation) {
    let id = op.operation_id.clone().unwrap_or_default();
    // The original accepted these without a body (an empty PUT only touches `updated_at`).
    if matches!(
        id.as_str(),
        "updateItem" | "updateCategory" | "validateCategory"
    ) {
        if let Some(body) = op.request_body.as_mut() {
            body.required = Some(Required::False);
        }
    }
    // The original answered `valid: false` to an array body too (only objects and arrays
    // parse, as with express.json()).
    if id == "validateCategory" {
        let content = op
            .request_body
            .as_mut()
            .and_then(|b| b.content.get_mut("application/json"));
        if let Some(content) = content {
            let either = AnyOfBuilder::new()
                .item(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ValidateCategoryBody",
                )))
                .item(ObjectBuilder::new().schema_type(Type::Array))
                .build();
            content.schema = Some(RefOr::T(Schema::AnyOf(either)));
        }
    }
    // `offset=` is 0, as JavaScript's Number("") was; `limit=` is refused (0 is below 1).
    if id == "listItems" {
        for param in op.parameters.iter_mut().flatten() {
            if param.name == "offset" {
                let integer = ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .maximum(Some(i64::from(i32::MAX)));
                let empty = ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(0));
                let either = AnyOfBuilder::new().item(integer).item(empty).build();
                param.schema = Some(RefOr::T(Schema::AnyOf(either)));
            }
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
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
