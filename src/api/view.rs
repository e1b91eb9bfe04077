//! What goes on the wire: items and categories as the existing clients read them, and the
//! envelope and body shapes, typed so that `/openapi.json` is generated from the same code.

// Several structs exist only to describe bodies in the OpenAPI document, with the original
// camelCase keys.
#![allow(dead_code, non_snake_case)]

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use utoipa::ToSchema;

use crate::db::categories::CategoryRow;
use crate::db::items::ItemRow;
use crate::domain::FieldError;

/// Timestamps as JavaScript's `toISOString()` wrote them: UTC with milliseconds.
pub fn iso(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| IsoTime::new(t).as_str().to_string())
}

/// A timestamp formatted once as `2026-11-28T16:16:11.783Z` (24 bytes, no allocation). Each
/// item carries four of them, so a 100-item page formats 400; `core::fmt` was a sixth of the
/// API's CPU time there.
#[derive(Debug, Clone, Copy)]
pub struct IsoTime([u8; 24]);

impl IsoTime {
    pub fn new(t: DateTime<Utc>) -> Self {
        use chrono::{Datelike, Timelike};
        let mut b = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut v: u32| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, t.year().clamp(0, 9999) as u32);
        put(5, 2, t.month());
        put(8, 2, t.day());
        put(11, 2, t.hour());
        put(14, 2, t.minute());
        put(17, 2, t.second());
        put(20, 3, t.timestamp_subsec_millis().min(999));
        IsoTime(b)
    }

    pub fn as_str(&self) -> &str {
        // Always ASCII (digits and separators written above); never the fallback.
        std::str::from_utf8(&self.0).unwrap_or("1970-01-01T00:00:00.000Z")
    }
}

impl Serialize for IsoTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

fn id_as_string<S: serde::Serializer>(id: &i32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(itoa::Buffer::new().format(*id))
}

/// An item with both the snake_case columns and the camelCase aliases the original emitted,
/// borrowed from the database row.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemView<'a> {
    /// The SERIAL id as a string.
    #[serde(serialize_with = "id_as_string")]
    #[schema(value_type = String, example = "1")]
    pub id: i32,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub category: &'a str,
    #[schema(value_type = crate::domain::Priority)]
    pub priority: &'a str,
    #[schema(value_type = crate::domain::Status)]
    pub status: &'a str,
    pub tags: Vec<&'a str>,
    #[schema(value_type = Option<String>)]
    pub created_at: Option<IsoTime>,
    #[schema(value_type = Option<String>)]
    pub updated_at: Option<IsoTime>,
    pub created_by: Option<&'a str>,
    pub updated_by: Option<&'a str>,
    #[schema(value_type = Object)]
    pub metadata: Metadata<'a>,
    #[serde(rename = "updatedAt")]
    #[schema(value_type = Option<String>)]
    pub updated_at_camel: Option<IsoTime>,
    #[serde(rename = "createdAt")]
    #[schema(value_type = Option<String>)]
    pub created_at_camel: Option<IsoTime>,
    #[serde(rename = "createdBy")]
    pub created_by_camel: Option<&'a str>,
    #[serde(rename = "updatedBy")]
    pub updated_by_camel: Option<&'a str>,
}

/// An item's metadata: the object exactly as PostgreSQL sent it, or `{}`. The text is written
/// out as is, never parsed into a `Value`: a number PostgreSQL normalised (`1e308` becomes 309
/// digits) is returned exactly as stored, and cannot fail to convert.
#[derive(Debug, Clone, Copy)]
pub enum Metadata<'a> {
    Stored(&'a RawValue),
    Empty,
}

impl Serialize for Metadata<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Metadata::Stored(raw) => raw.serialize(s),
            Metadata::Empty => s.serialize_map(Some(0))?.end(),
        }
    }
}

impl<'a> From<&'a ItemRow> for ItemView<'a> {
    fn from(r: &'a ItemRow) -> Self {
        let created = r.created_at().map(IsoTime::new);
        let updated = r.updated_at().map(IsoTime::new);
        // Only objects are metadata; anything else stored there reads as {} (as before).
        let parsed: Option<&'a RawValue> = r
            .metadata_json()
            .filter(|j| j.trim_start().starts_with('{'))
            .and_then(|j| serde_json::from_str(j).ok());
        let metadata = parsed.map_or(Metadata::Empty, Metadata::Stored);
        ItemView {
            id: r.id(),
            title: r.title(),
            description: r.description(),
            category: r.category(),
            priority: r.priority(),
            status: r.status(),
            tags: r.tags(),
            created_at: created,
            updated_at: updated,
            created_by: r.created_by(),
            updated_by: r.updated_by(),
            metadata,
            updated_at_camel: updated.or(created),
            created_at_camel: created,
            created_by_camel: r.created_by(),
            updated_by_camel: r.updated_by(),
        }
    }
}

/// `{success, message?, data}` around one item. Serialised from the typed view, never through
/// `serde_json::Value` (`json!` would re-parse the stored metadata, and panic where it cannot).
#[derive(Debug, Serialize)]
pub struct ItemEnvelope<'a> {
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
    pub data: ItemView<'a>,
}

impl<'a> ItemEnvelope<'a> {
    pub fn new(message: Option<&'static str>, row: &'a ItemRow) -> Self {
        ItemEnvelope {
            success: true,
            message,
            data: ItemView::from(row),
        }
    }
}

/// `{success, data, message?}` around one category, in the original's key order.
#[derive(Debug, Serialize)]
pub struct CategoryEnvelope {
    pub success: bool,
    pub data: CategoryView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
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
    /// As the original's reads normalised it: a missing description reads as the display name.
    fn from(r: CategoryRow) -> Self {
        let description = r
            .description
            .clone()
            .or_else(|| Some(r.display_name.clone()));
        CategoryView {
            description,
            ..CategoryView::stored(r)
        }
    }
}

impl CategoryView {
    /// As stored, what the original's writes (create, update, toggle) answered with: a
    /// category created without a description has `description: null`.
    pub fn stored(r: CategoryRow) -> Self {
        CategoryView {
            id: r.name.clone(),
            name: r.name,
            description: r.description,
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

/// Body of `POST /api/items`. Unknown keys are ignored; `status` is always `new`. Optional
/// fields may be left out but not sent as `null` (refused, as the original's Zod schema did).
#[derive(ToSchema)]
pub struct CreateItemBody {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000]*[^\\u0000\\t\\n\\u000b\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff][^\\u0000]*$"
    )]
    title: String,
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = "^[^\\u0000]*[^\\u0000\\t\\n\\u000b\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff][^\\u0000]*$"
    )]
    description: String,
    #[schema(min_length = 1, max_length = 100, pattern = "^[a-z0-9-]+$")]
    category: String,
    priority: crate::domain::Priority,
    /// Each tag 1..50 characters.
    #[schema(required = false, inline)]
    tags: Vec<Tag>,
    #[schema(value_type = Object, required = false)]
    metadata: Value,
}

/// Body of `PUT /api/items/{id}`: a partial update. Unknown keys are refused; every field may
/// be left out, none may be `null`. An empty or missing body changes only `updated_at`.
#[derive(ToSchema)]
pub struct UpdateItemBody {
    #[schema(
        min_length = 1,
        max_length = 200,
        required = false,
        pattern = "^[^\\u0000]*[^\\u0000\\t\\n\\u000b\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff][^\\u0000]*$"
    )]
    title: String,
    #[schema(
        min_length = 1,
        max_length = 2000,
        required = false,
        pattern = "^[^\\u0000]*[^\\u0000\\t\\n\\u000b\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff][^\\u0000]*$"
    )]
    description: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[a-z0-9-]+$",
        required = false
    )]
    category: String,
    #[schema(required = false)]
    priority: crate::domain::Priority,
    #[schema(required = false)]
    status: crate::domain::Status,
    #[schema(required = false, inline)]
    tags: Vec<Tag>,
    #[schema(value_type = Object, required = false)]
    metadata: Value,
}

/// A tag: 1..50 characters, not trimmed. Text fields are trimmed as JavaScript trims (the
/// `pattern`s of required text say "not only whitespace") and can never hold NUL, which
/// PostgreSQL's text cannot store.
pub struct Tag;

impl utoipa::PartialSchema for Tag {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(50))
            .pattern(Some("^[^\\u0000]*$"))
            .into()
    }
}

impl ToSchema for Tag {}

/// Body of `POST /api/categories`.
#[derive(ToSchema)]
pub struct CreateCategoryBody {
    #[schema(min_length = 1, max_length = 100, pattern = "^[a-z0-9-]+$")]
    name: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000]*[^\\u0000\\t\\n\\u000b\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff][^\\u0000]*$"
    )]
    display_name: Option<String>,
    #[schema(max_length = 2000, pattern = "^[^\\u0000]*$")]
    description: Option<String>,
    #[schema(minimum = 0, maximum = 1000000)]
    display_order: Option<i32>,
    #[schema(pattern = "^#[0-9A-Fa-f]{6}$")]
    color: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = "^[^\\u0000]*[^\\u0000\\t\\n\\u000b\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff][^\\u0000]*$"
    )]
    icon: Option<String>,
}

/// Body of `PUT /api/categories/{name}`; `display_order` is an alias of `sort_order`, `null`
/// clears description, color and icon, `name` is ignored.
#[derive(ToSchema)]
pub struct UpdateCategoryBody {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000]*[^\\u0000\\t\\n\\u000b\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff][^\\u0000]*$"
    )]
    display_name: Option<String>,
    #[schema(max_length = 2000, pattern = "^[^\\u0000]*$")]
    description: Option<String>,
    #[schema(minimum = 0, maximum = 1000000)]
    sort_order: Option<i32>,
    #[schema(minimum = 0, maximum = 1000000)]
    display_order: Option<i32>,
    is_active: Option<bool>,
    #[schema(pattern = "^#[0-9A-Fa-f]{6}$")]
    color: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = "^[^\\u0000]*[^\\u0000\\t\\n\\u000b\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff][^\\u0000]*$"
    )]
    icon: Option<String>,
}

/// Any `name` is accepted, as before: only a string naming an active category is `valid`.
#[derive(ToSchema)]
pub struct ValidateCategoryBody {
    #[schema(required = false)]
    name: Value,
}

#[derive(ToSchema)]
pub struct ItemListResponse {
    success: bool,
    /// Items on this page.
    count: usize,
    /// Items matching the filters across all pages.
    total: i64,
    data: Vec<ItemView<'static>>,
    /// The parsed query, with `limit` and `offset` defaults filled in.
    #[schema(value_type = Object)]
    filters: Value,
}

#[derive(ToSchema)]
pub struct ItemResponse {
    success: bool,
    data: ItemView<'static>,
}

#[derive(ToSchema)]
pub struct ItemWriteResponse {
    success: bool,
    message: String,
    data: ItemView<'static>,
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

/// Every 400. Validation failures (body, query, parameter, unknown category) carry
/// `error: "Error"`, `message: "Validation failed"` (or the category message) and `errors`;
/// malformed JSON carries `error: "SyntaxError"` and the parser's message; a category created
/// without a name is the original's bare `{success:false, message:"Category name is required"}`.
#[derive(ToSchema)]
pub struct BadRequestResponse {
    success: bool,
    #[schema(example = "Error", required = false, nullable = false)]
    error: String,
    #[schema(example = "Validation failed")]
    message: String,
    #[schema(required = false)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_time_matches_to_iso_string() {
        for s in [
            "2026-11-28T16:16:11.783Z",
            "0999-01-02T03:04:05.006Z",
            "2024-02-29T23:59:59.999Z",
        ] {
            let t: DateTime<Utc> = s.parse().unwrap();
            assert_eq!(IsoTime::new(t).as_str(), s);
            assert_eq!(
                IsoTime::new(t).as_str(),
                t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            );
        }
        // Sub-millisecond precision is truncated, as JavaScript's Date holds milliseconds only.
        let t: DateTime<Utc> = "2026-11-28T16:16:11.783999Z".parse().unwrap();
        assert_eq!(IsoTime::new(t).as_str(), "2026-11-28T16:16:11.783Z");
    }
}
