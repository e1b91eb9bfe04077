//! `/api/items` (also mounted at `/items`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::api::error::ApiError;
use crate::api::extract::{JsonBody, QueryPairs};
use crate::api::state::AppState;
use crate::api::view::{ItemEnvelope, ItemView};
use crate::db::items::{self, WriteError};
use crate::domain::{ItemFilter, ItemId, ItemPatch, NewItem};

/// The list envelope, serialised straight from the rows (the hottest path).
#[derive(serde::Serialize)]
struct ListBody<'a> {
    success: bool,
    count: usize,
    total: i64,
    data: Vec<ItemView<'a>>,
    filters: &'a ItemFilter,
}

fn raw_id(req: &HttpRequest) -> String {
    req.match_info().query("id").trim().to_string()
}

/// An id that cannot name an item is simply not found (the original answered 500).
fn parse_id(raw: &str) -> Result<ItemId, ApiError> {
    ItemId::parse(raw).ok_or_else(|| ApiError::ItemNotFound(raw.to_string()))
}

fn not_found_as(id: &str) -> impl Fn(WriteError) -> ApiError + '_ {
    move |e| match e {
        WriteError::NotFound => ApiError::ItemNotFound(id.to_string()),
        other => other.into(),
    }
}

/// List items, newest first, filtered and paged in SQL.
#[utoipa::path(
    get, path = "/api/items", tag = "items", operation_id = "listItems",
    params(
        ("category" = Option<String>, Query, pattern = "^[a-z0-9-]+$", min_length = 1, max_length = 100),
        ("status" = Option<crate::domain::Status>, Query),
        ("priority" = Option<crate::domain::Priority>, Query),
        ("search" = Option<String>, Query, pattern = "^[^\\u0000]*$", description = "Case-insensitive substring of title, description or any tag"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "Default 100"),
        ("offset" = Option<i64>, Query, minimum = 0, maximum = 2147483647, description = "Default 0"),
    ),
    responses(
        (status = 200, body = crate::api::view::ItemListResponse),
        (status = 400, description = "Invalid or unknown query parameter", body = crate::api::view::BadRequestResponse),
        (status = 503, description = "Database unavailable", body = crate::api::view::ErrorResponse),
    )
)]
pub async fn list(state: web::Data<AppState>, query: QueryPairs) -> Result<HttpResponse, ApiError> {
    let filter = ItemFilter::parse(&query.0)?;
    let page = state
        .retry(|client| {
            let filter = filter.clone();
            async move { Ok(items::list(&client, &filter).await?) }
        })
        .await?;
    let data: Vec<ItemView> = page.items.iter().map(ItemView::from).collect();
    let body = ListBody {
        success: true,
        count: data.len(),
        total: page.total,
        data,
        filters: &filter,
    };
    // Sized up front: growing a 60 KB page by doubling cost more than building it.
    let mut out = Vec::with_capacity(256 + body.data.len() * 768);
    serde_json::to_writer(&mut out, &body).map_err(|_| ApiError::Internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(out))
}

/// Counts by category, status and priority.
#[utoipa::path(
    get, path = "/api/items/stats", tag = "items", operation_id = "itemStats",
    responses(
        (status = 200, body = crate::api::view::ItemStatsResponse),
        (status = 503, body = crate::api::view::ErrorResponse),
    )
)]
pub async fn stats(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let s = state
        .retry(|client| async move { Ok(items::stats(&client).await?) })
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "data": {
            "total": s.total,
            "byCategory": s.by_category,
            "byStatus": s.by_status,
            "byPriority": s.by_priority,
        }
    })))
}

#[utoipa::path(
    get, path = "/api/items/{id}", tag = "items", operation_id = "getItem",
    params(("id" = String, Path, description = "Item id (a positive integer)")),
    responses(
        (status = 200, body = crate::api::view::ItemResponse),
        (status = 404, body = crate::api::view::ErrorResponse),
        (status = 503, body = crate::api::view::ErrorResponse),
    )
)]
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let raw = raw_id(&req);
    let id = parse_id(&raw)?;
    let item = state
        .retry(|client| async move { Ok(items::get(&client, id).await?) })
        .await?
        .ok_or(ApiError::ItemNotFound(raw))?;
    Ok(HttpResponse::Ok().json(ItemEnvelope::new(None, &item)))
}

/// Create an item; its status is always `new`.
#[utoipa::path(
    post, path = "/api/items", tag = "items", operation_id = "createItem",
    request_body = crate::api::view::CreateItemBody,
    responses(
        (status = 201, body = crate::api::view::ItemWriteResponse),
        (status = 400, description = "Validation failed, malformed JSON, or unknown category", body = crate::api::view::BadRequestResponse),
        (status = 413, body = crate::api::view::ErrorResponse),
        (status = 415, body = crate::api::view::ErrorResponse),
        (status = 503, description = "Database unavailable or schema not migrated", body = crate::api::view::ErrorResponse),
    )
)]
pub async fn create(state: web::Data<AppState>, body: JsonBody) -> Result<HttpResponse, ApiError> {
    let item = NewItem::parse(&body.0)?;
    let row = state
        .retry(|client| {
            let (state, item) = (state.clone(), item.clone());
            async move {
                state.ensure_writable(&client).await?;
                Ok(items::create(&client, &item).await?)
            }
        })
        .await?;
    Ok(HttpResponse::Created().json(ItemEnvelope::new(Some("Item created successfully"), &row)))
}

/// Partial update: only the fields given change.
#[utoipa::path(
    put, path = "/api/items/{id}", tag = "items", operation_id = "updateItem",
    params(("id" = String, Path)),
    request_body(content = crate::api::view::UpdateItemBody, description = "Optional: no body changes only `updated_at`"),
    responses(
        (status = 200, body = crate::api::view::ItemWriteResponse),
        (status = 400, body = crate::api::view::BadRequestResponse),
        (status = 404, body = crate::api::view::ErrorResponse),
        (status = 413, body = crate::api::view::ErrorResponse),
        (status = 415, body = crate::api::view::ErrorResponse),
        (status = 503, body = crate::api::view::ErrorResponse),
    )
)]
pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let raw = raw_id(&req);
    // Validation comes first, as before: a bad body is a 400 whatever the id.
    let patch = ItemPatch::parse(&body.0)?;
    let id = parse_id(&raw)?;
    let row = state
        .retry(|client| {
            let (state, patch, raw) = (state.clone(), patch.clone(), raw.clone());
            async move {
                state.ensure_writable(&client).await?;
                items::update(&client, id, &patch)
                    .await
                    .map_err(not_found_as(&raw))
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(ItemEnvelope::new(Some("Item updated successfully"), &row)))
}

#[utoipa::path(
    delete, path = "/api/items/{id}", tag = "items", operation_id = "deleteItem",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = crate::api::view::MessageResponse),
        (status = 404, body = crate::api::view::ErrorResponse),
        (status = 503, body = crate::api::view::ErrorResponse),
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let raw = raw_id(&req);
    let id = parse_id(&raw)?;
    let deleted = state
        .retry(|client| {
            let state = state.clone();
            async move {
                state.ensure_writable(&client).await?;
                Ok(items::delete(&client, id).await?)
            }
        })
        .await?;
    if !deleted {
        return Err(ApiError::ItemNotFound(raw));
    }
    Ok(HttpResponse::Ok().json(json!({"success": true, "message": "Item deleted successfully"})))
}
