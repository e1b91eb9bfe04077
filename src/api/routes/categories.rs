//! `/api/categories` (also mounted at `/categories`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::api::error::ApiError;
use crate::api::extract::{JsonBody, QueryPairs};
use crate::api::state::AppState;
use crate::api::view::{CategoryEnvelope, CategoryView};
use crate::db::categories::{self, CategoryError};
use crate::domain::{CategoryName, CategoryPatch, NewCategory};

fn raw_name(req: &HttpRequest) -> String {
    req.match_info().query("name").to_string()
}

fn map_error(name: &str) -> impl Fn(CategoryError) -> ApiError + '_ {
    move |e| match e {
        CategoryError::NotFound => ApiError::CategoryNotFound(name.to_string()),
        CategoryError::AlreadyExists => {
            ApiError::Conflict(format!("Category '{name}' already exists"))
        }
        CategoryError::InUse { items } => ApiError::Conflict(format!(
            "Cannot delete category '{name}' - {items} items are using it"
        )),
        CategoryError::Db(e) => ApiError::from_db(&e),
    }
}

/// A path segment that cannot be a valid name cannot exist either.
fn existing_name(raw: &str) -> Result<CategoryName, ApiError> {
    CategoryName::parse(raw).map_err(|_| ApiError::CategoryNotFound(raw.to_string()))
}

/// Active categories in display order; `active_only=false` (what the dashboard sends) includes
/// inactive ones too. Other parameters are ignored, as before.
#[utoipa::path(
    get, path = "/api/categories", tag = "categories", operation_id = "listCategories",
    params(
        ("active_only" = Option<serde_json::Value>, Query, description = "`false`, `0` or `no` include inactive categories; any other value, or none, lists active ones only. Never refused: the original ignored every parameter here"),
        ("order_by" = Option<serde_json::Value>, Query, description = "Accepted and ignored: the order is always display order"),
    ),
    responses(
        (status = 200, body = crate::api::view::CategoryListResponse),
        (status = 503, body = crate::api::view::ErrorResponse),
    )
)]
pub async fn list(state: web::Data<AppState>, query: QueryPairs) -> Result<HttpResponse, ApiError> {
    let active_only = !query
        .0
        .iter()
        .any(|(k, v)| k == "active_only" && matches!(v.as_str(), "false" | "0" | "no"));
    let data: Vec<CategoryView> = state
        .retry(|client| async move { Ok(categories::list(&client, active_only).await?) })
        .await?
        .into_iter()
        .map(CategoryView::from)
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "count": data.len(),
        "data": data,
        "cached": true,
    })))
}

#[utoipa::path(
    get, path = "/api/categories/stats", tag = "categories", operation_id = "categoryStats",
    responses(
        (status = 200, body = crate::api::view::CategoryStatsResponse),
        (status = 503, body = crate::api::view::ErrorResponse),
    )
)]
pub async fn stats(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (total, active) = state
        .retry(|client| async move { Ok(categories::stats(&client).await?) })
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "data": {"total": total, "active": active, "inactive": total - active},
    })))
}

/// One category, active or not.
#[utoipa::path(
    get, path = "/api/categories/{name}", tag = "categories", operation_id = "getCategory",
    params(("name" = String, Path)),
    responses(
        (status = 200, body = crate::api::view::CategoryResponse),
        (status = 404, body = crate::api::view::ErrorResponse),
        (status = 503, body = crate::api::view::ErrorResponse),
    )
)]
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let raw = raw_name(&req);
    let name = existing_name(&raw)?;
    let row = state
        .retry(|client| {
            let name = name.clone();
            async move { Ok(categories::get(&client, name.as_str()).await?) }
        })
        .await?
        .ok_or(ApiError::CategoryNotFound(raw))?;
    Ok(HttpResponse::Ok().json(CategoryEnvelope {
        success: true,
        data: CategoryView::from(row),
        message: None,
    }))
}

/// Whether a name is an active category. Always 200.
#[utoipa::path(
    post, path = "/api/categories/validate", tag = "categories", operation_id = "validateCategory",
    request_body(content = crate::api::view::ValidateCategoryBody, description = "Optional: no body is `valid: false`"),
    responses(
        (status = 200, body = crate::api::view::ValidateResponse),
        (status = 400, description = "Malformed JSON", body = crate::api::view::ErrorResponse),
        (status = 413, body = crate::api::view::ErrorResponse),
        (status = 415, body = crate::api::view::ErrorResponse),
        (status = 503, body = crate::api::view::ErrorResponse),
    )
)]
pub async fn validate(
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let name = match body.0.get("name") {
        Some(Value::String(s)) => CategoryName::parse(s).ok(),
        _ => None,
    };
    let valid = match name {
        Some(name) => {
            state
                .retry(|client| {
                    let name = name.clone();
                    async move { Ok(categories::is_active(&client, name.as_str()).await?) }
                })
                .await?
        }
        None => false,
    };
    Ok(HttpResponse::Ok().json(json!({"success": true, "valid": valid})))
}

#[utoipa::path(
    post, path = "/api/categories", tag = "categories", operation_id = "createCategory",
    request_body = crate::api::view::CreateCategoryBody,
    responses(
        (status = 201, body = crate::api::view::CategoryResponse),
        (status = 400, body = crate::api::view::BadRequestResponse),
        (status = 409, body = crate::api::view::ErrorResponse),
        (status = 413, body = crate::api::view::ErrorResponse),
        (status = 415, body = crate::api::view::ErrorResponse),
        (status = 503, body = crate::api::view::ErrorResponse),
    )
)]
pub async fn create(state: web::Data<AppState>, body: JsonBody) -> Result<HttpResponse, ApiError> {
    if NewCategory::name_missing(&body.0) {
        return Err(ApiError::CategoryNameRequired);
    }
    let category = NewCategory::parse(&body.0)?;
    let row = state
        .retry(|client| {
            let (state, category) = (state.clone(), category.clone());
            async move {
                state.ensure_writable(&client).await?;
                categories::create(&client, &category)
                    .await
                    .map_err(map_error(category.name.as_str()))
            }
        })
        .await?;
    Ok(HttpResponse::Created().json(CategoryEnvelope {
        success: true,
        data: CategoryView::stored(row),
        message: Some("Category created successfully"),
    }))
}

#[utoipa::path(
    put, path = "/api/categories/{name}", tag = "categories", operation_id = "updateCategory",
    params(("name" = String, Path)),
    request_body(content = crate::api::view::UpdateCategoryBody, description = "Optional: no body changes nothing"),
    responses(
        (status = 200, body = crate::api::view::CategoryResponse),
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
    let raw = raw_name(&req);
    let patch = CategoryPatch::parse(&body.0)?;
    let name = existing_name(&raw)?;
    let row = state
        .retry(|client| {
            let (state, name, patch, raw) =
                (state.clone(), name.clone(), patch.clone(), raw.clone());
            async move {
                state.ensure_writable(&client).await?;
                categories::update(&client, &name, &patch)
                    .await
                    .map_err(map_error(&raw))
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(CategoryEnvelope {
        success: true,
        data: CategoryView::stored(row),
        message: Some("Category updated successfully"),
    }))
}

/// Hard delete; refused with 409 while items use the category.
#[utoipa::path(
    delete, path = "/api/categories/{name}", tag = "categories", operation_id = "deleteCategory",
    params(("name" = String, Path)),
    responses(
        (status = 200, body = crate::api::view::MessageResponse),
        (status = 404, body = crate::api::view::ErrorResponse),
        (status = 409, body = crate::api::view::ErrorResponse),
        (status = 503, body = crate::api::view::ErrorResponse),
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let raw = raw_name(&req);
    let name = existing_name(&raw)?;
    state
        .retry(|mut client| {
            let (state, name, raw) = (state.clone(), name.clone(), raw.clone());
            async move {
                state.ensure_writable(&client).await?;
                categories::delete(&mut client, name.as_str())
                    .await
                    .map_err(map_error(&raw))
            }
        })
        .await?;
    Ok(HttpResponse::Ok()
        .json(json!({"success": true, "message": "Category deleted successfully"})))
}

#[utoipa::path(
    patch, path = "/api/categories/{name}/toggle", tag = "categories", operation_id = "toggleCategory",
    params(("name" = String, Path)),
    responses(
        (status = 200, body = crate::api::view::CategoryResponse),
        (status = 404, body = crate::api::view::ErrorResponse),
        (status = 503, body = crate::api::view::ErrorResponse),
    )
)]
pub async fn toggle(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let raw = raw_name(&req);
    let name = existing_name(&raw)?;
    // Not re-run on a lost session: a toggle is not idempotent, and an ended session could
    // in principle have committed it first.
    let client = state.client().await?;
    state.ensure_writable(&client).await?;
    let row = categories::toggle(&client, name.as_str())
        .await?
        .ok_or(ApiError::CategoryNotFound(raw))?;
    Ok(HttpResponse::Ok().json(CategoryEnvelope {
        success: true,
        data: CategoryView::stored(row),
        message: None,
    }))
}

/// Kept for existing callers; there is no category cache any more, so nothing can be stale.
#[utoipa::path(
    post, path = "/api/categories/invalidate-cache", tag = "categories", operation_id = "invalidateCategoryCache",
    responses((status = 200, body = crate::api::view::MessageResponse))
)]
pub async fn invalidate_cache() -> HttpResponse {
    HttpResponse::Ok().json(json!({"success": true, "message": "Categories cache invalidated"}))
}
