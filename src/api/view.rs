//! What goes on the wire: items and categories as the existing clients read them, and the
//! envelope and body shapes, typed so that `/openapi.json` is generated from the same code.

// Several structs exist only to describe bodies in the OpenAPI document, with the original
// camelCase keys.
#![allow(dead_code, non_snake_case)]

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::db::categories::CategoryRow;
use crate::db::items::ItemRow;
use crate::domain::FieldError;

/// Timestamps as JavaScript's `toISOString()` wrote them: UTC with milliseconds.
pub fn iso(t: Option<DateTime<Utc>>) -> Option<String> {
    // to_rfc3339_opts writes the same text as a "%Y-%m-%dT%H:%M:%S%.3fZ" format string but
    // several times faster, which shows on 100-item pages.
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// An item with both the snake_case columns and the camelCase aliases the original emitted.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemView {
    /// The SERIAL id as a string.
    #[schema(example = "1")]
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub category: String,
    #[schema(value_type = crate::domain::Priority)]
    pub priority: String,
    #[schema(value_type = crate::domain::Status)]
    pub status: String,
    pub tags: Vec<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    #[serde(rename = "updatedAt")]
    pub updated_at_camel: Option<String>,
    #[serde(rename = "createdAt")]
    pub created_at_camel: Option<String>,
    #[serde(rename = "createdBy")]
    pub created_by_camel: Option<String>,
    #[serde(rename = "updatedBy")]
    pub updated_by_camel: Option<String>,
}

impl From<ItemRow> for ItemView {
    fn from(r: ItemRow) -> Self {
        let created = iso(r.created_at);
        let updated_raw = iso(r.updated_at);
        let updated = updated_raw.clone().or_else(|| created.clone());
        ItemView {
            id: r.id.to_string(),
            title: r.title,
            description: r.description,
            category: r.category,
            priority: r.priority,
            status: r.status,
            tags: r.tags,
            created_at: created.clone(),
            updated_at: updated_raw,
            created_by: r.created_by.clone(),
            updated_by: r.updated_by.clone(),
            metadata: r.metadata,
            updated_at_camel: updated,
            created_at_camel: created,
            created_by_camel: r.created_by,
            updated_by_camel: r.updated_by,
        }
    }
}

/// A category, normalised as the original CategoryService did (`id` is the name).
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryView {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub description: Option<String>,
    pub is_active: bool,
    pub display_order: i32,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    #[schema(example = "#6B7280")]
    pub color: String,
    pub icon: Option<String>,
    pub created_by: Option<String>,
}

pub const DEFAULT_COLOR: &str = "#6B7280";

impl From<CategoryRow> for CategoryView {
    fn from(r: CategoryRow) -> Self {
        CategoryView {
            id: r.name.clone(),
            name: r.name,
            description: r.description.or_else(|| Some(r.display_name.clone())),
            display_name: r.display_name,
            is_active: r.is_active,
            display_order: r.sort_order,
            created_at: iso(r.created_at),
            updated_at: iso(r.updated_at),
            color: r.color.unwrap_or_else(|| DEFAULT_COLOR.into()),
            icon: r.icon,
            created_by: None,
        }
    }
}

// ---- Shapes below describe bodies for the OpenAPI document. ----

/// Body of `POST /api/items`. Unknown keys are ignored; `status` is always `new`.
#[derive(ToSchema)]
pub struct CreateItemBody {
    #[schema(min_length = 1, max_length = 200)]
    title: String,
    #[schema(min_length = 1, max_length = 2000)]
    description: String,
    #[schema(min_length = 1, max_length = 100, pattern = "^[a-z0-9-]+$")]
    category: String,
    priority: crate::domain::Priority,
    /// Each tag 1..50 characters.
    tags: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
}

/// Body of `PUT /api/items/{id}`: a partial update. Unknown keys are refused.
#[derive(ToSchema)]
pub struct UpdateItemBody {
    #[schema(min_length = 1, max_length = 200)]
    title: Option<String>,
    #[schema(min_length = 1, max_length = 2000)]
    description: Option<String>,
    #[schema(min_length = 1, max_length = 100, pattern = "^[a-z0-9-]+$")]
    category: Option<String>,
    priority: Option<crate::domain::Priority>,
    status: Option<crate::domain::Status>,
    tags: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
}

/// Body of `POST /api/categories`.
#[derive(ToSchema)]
pub struct CreateCategoryBody {
    #[schema(min_length = 1, max_length = 100, pattern = "^[a-z0-9-]+$")]
    name: String,
    #[schema(min_length = 1, max_length = 200)]
    display_name: Option<String>,
    #[schema(max_length = 2000)]
    description: Option<String>,
    #[schema(minimum = 0, maximum = 1000000)]
    display_order: Option<i32>,
    #[schema(pattern = "^#[0-9A-Fa-f]{6}$")]
    color: Option<String>,
    #[schema(min_length = 1, max_length = 50)]
    icon: Option<String>,
}

/// Body of `PUT /api/categories/{name}`; `display_order` is an alias of `sort_order`, `null`
/// clears description, color and icon, `name` is ignored.
#[derive(ToSchema)]
pub struct UpdateCategoryBody {
    #[schema(min_length = 1, max_length = 200)]
    display_name: Option<String>,
    #[schema(max_length = 2000)]
    description: Option<String>,
    #[schema(minimum = 0, maximum = 1000000)]
    sort_order: Option<i32>,
    #[schema(minimum = 0, maximum = 1000000)]
    display_order: Option<i32>,
    is_active: Option<bool>,
    #[schema(pattern = "^#[0-9A-Fa-f]{6}$")]
    color: Option<String>,
    #[schema(min_length = 1, max_length = 50)]
    icon: Option<String>,
}

#[derive(ToSchema)]
pub struct ValidateCategoryBody {
    name: Option<String>,
}

#[derive(ToSchema)]
pub struct ItemListResponse {
    success: bool,
    /// Items on this page.
    count: usize,
    /// Items matching the filters across all pages.
    total: i64,
    data: Vec<ItemView>,
    /// The parsed query, with `limit` and `offset` defaults filled in.
    #[schema(value_type = Object)]
    filters: Value,
}

#[derive(ToSchema)]
pub struct ItemResponse {
    success: bool,
    data: ItemView,
}

#[derive(ToSchema)]
pub struct ItemWriteResponse {
    success: bool,
    message: String,
    data: ItemView,
}

#[derive(ToSchema)]
pub struct ItemStats {
    total: i64,
    #[schema(value_type = Object)]
    byCategory: Value,
    #[schema(value_type = Object)]
    byStatus: Value,
    #[schema(value_type = Object)]
    byPriority: Value,
}

#[derive(ToSchema)]
pub struct ItemStatsResponse {
    success: bool,
    data: ItemStats,
}

#[derive(ToSchema)]
pub struct CategoryListResponse {
    success: bool,
    count: usize,
    data: Vec<CategoryView>,
    /// Always true, as before.
    cached: bool,
}

#[derive(ToSchema)]
pub struct CategoryResponse {
    success: bool,
    data: CategoryView,
    message: Option<String>,
}

#[derive(ToSchema)]
pub struct CategoryStats {
    total: i64,
    active: i64,
    inactive: i64,
}

#[derive(ToSchema)]
pub struct CategoryStatsResponse {
    success: bool,
    data: CategoryStats,
}

#[derive(ToSchema)]
pub struct ValidateResponse {
    success: bool,
    valid: bool,
}

#[derive(ToSchema)]
pub struct MessageResponse {
    success: bool,
    message: String,
}

/// 400 for a body, query or parameter that fails validation.
#[derive(ToSchema)]
pub struct ValidationErrorResponse {
    success: bool,
    #[schema(example = "Error")]
    error: String,
    #[schema(example = "Validation failed")]
    message: String,
    errors: Vec<FieldError>,
}

/// Any other error: `error` is absent on not-found and conflict answers.
#[derive(ToSchema)]
pub struct ErrorResponse {
    success: bool,
    error: Option<String>,
    message: String,
}

#[derive(ToSchema)]
pub struct RateLimitedResponse {
    success: bool,
    error: String,
    message: String,
    /// Seconds, as a string.
    retryAfter: String,
}

#[derive(ToSchema)]
pub struct HealthCheck {
    status: String,
    message: String,
    responseTime: u64,
}

#[derive(ToSchema)]
pub struct HealthResponse {
    #[schema(example = "healthy")]
    status: String,
    service: String,
    version: String,
    timestamp: String,
    uptime: f64,
    #[schema(value_type = Object)]
    checks: std::collections::BTreeMap<String, HealthCheck>,
    responseTime: u64,
}

#[derive(ToSchema)]
pub struct LivenessResponse {
    status: String,
    service: String,
    uptime: f64,
}
