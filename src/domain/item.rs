//! Items: the enums, the id, and the parsed forms of create, update and list requests.

use serde::Serialize;
use serde_json::{Map, Value};

use super::category::CategoryName;
use super::validation::{
    as_object, contains_nul, expected, js_len, parse_choice, parse_string, reject_unknown_keys,
    StrRule, ValidationErrors,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Medium,
    High,
    Critical,
}

impl Priority {
    pub const ALL: [(&'static str, Priority); 4] = [
        ("low", Priority::Low),
        ("medium", Priority::Medium),
        ("high", Priority::High),
        ("critical", Priority::Critical),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, p)| *p == self)
            .map(|(n, _)| *n)
            .unwrap_or("low")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum Status {
    #[serde(rename = "new")]
    New,
    #[serde(rename = "review")]
    Review,
    #[serde(rename = "in-progress")]
    InProgress,
    #[serde(rename = "completed")]
    Completed,
    #[serde(rename = "rejected")]
    Rejected,
}

impl Status {
    pub const ALL: [(&'static str, Status); 5] = [
        ("new", Status::New),
        ("review", Status::Review),
        ("in-progress", Status::InProgress),
        ("completed", Status::Completed),
        ("rejected", Status::Rejected),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map(|(n, _)| *n)
            .unwrap_or("new")
    }
}

/// An item id as stored: a positive SERIAL. Anything else in a URL cannot name an item, so it is
/// a 404 rather than a database error (the original answered 500 here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemId(pub i32);

impl ItemId {
    pub fn parse(raw: &str) -> Option<Self> {
        let s = raw.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<i32>().ok().filter(|n| *n > 0).map(ItemId)
    }
}

const TITLE_CREATE: StrRule<'static> = StrRule {
    min: 1,
    max: 200,
    too_short: "Title is required",
    too_long: "Title must be less than 200 characters",
};
const TITLE_UPDATE: StrRule<'static> = StrRule {
    too_short: "Title cannot be empty",
    ..TITLE_CREATE
};
const DESCRIPTION_CREATE: StrRule<'static> = StrRule {
    min: 1,
    max: 2000,
    too_short: "Description is required",
    too_long: "Description must be less than 2000 characters",
};
const DESCRIPTION_UPDATE: StrRule<'static> = StrRule {
    too_short: "Description cannot be empty",
    ..DESCRIPTION_CREATE
};

/// A validated `POST /api/items` body. Unknown keys are dropped (the original schema was not
/// strict), `status` is always `new`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewItem {
    pub title: String,
    pub description: String,
    pub category: CategoryName,
    pub priority: Priority,
    pub tags: Vec<String>,
    pub metadata: Map<String, Value>,
}

impl NewItem {
    pub fn parse(body: &Value) -> Result<Self, ValidationErrors> {
        let body = as_object(body)?;
        let mut errors = ValidationErrors::default();
        let title = parse_string(&mut errors, "title", body.get("title"), &TITLE_CREATE);
        let description = parse_string(
            &mut errors,
            "description",
            body.get("description"),
            &DESCRIPTION_CREATE,
        );
        let category = CategoryName::parse_field(&mut errors, "category", body.get("category"));
        let priority = parse_choice(
            &mut errors,
            "priority",
            body.get("priority"),
            &Priority::ALL,
        );
        let tags = match body.get("tags") {
            None => Some(Vec::new()),
            value => parse_tags(&mut errors, value),
        };
        let metadata = match body.get("metadata") {
            None => Some(Map::new()),
            value => parse_metadata(&mut errors, value),
        };
        errors.finish_some(|| {
            Some(NewItem {
                title: title.unwrap_or_default(),
                description: description.unwrap_or_default(),
                category: category?,
                priority: priority?,
                tags: tags.unwrap_or_default(),
                metadata: metadata.unwrap_or_default(),
            })
        })
    }
}

/// A validated `PUT /api/items/{id}` body: every field optional, unknown keys refused.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<CategoryName>,
    pub priority: Option<Priority>,
    pub status: Option<Status>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<Map<String, Value>>,
}

impl ItemPatch {
    const KEYS: [&'static str; 7] = [
        "title",
        "description",
        "category",
        "priority",
        "status",
        "tags",
        "metadata",
    ];

    pub fn parse(body: &Value) -> Result<Self, ValidationErrors> {
        let body = as_object(body)?;
        let mut errors = ValidationErrors::default();
        let mut patch = ItemPatch::default();
        if let Some(v) = body.get("title") {
            patch.title = parse_string(&mut errors, "title", Some(v), &TITLE_UPDATE);
        }
        if let Some(v) = body.get("description") {
            patch.description =
                parse_string(&mut errors, "description", Some(v), &DESCRIPTION_UPDATE);
        }
        if let Some(v) = body.get("category") {
            patch.category = CategoryName::parse_field(&mut errors, "category", Some(v));
        }
        if let Some(v) = body.get("priority") {
            patch.priority = parse_choice(&mut errors, "priority", Some(v), &Priority::ALL);
        }
        if let Some(v) = body.get("status") {
            patch.status = parse_choice(&mut errors, "status", Some(v), &Status::ALL);
        }
        if let Some(v) = body.get("tags") {
            patch.tags = parse_tags(&mut errors, Some(v));
        }
        if let Some(v) = body.get("metadata") {
            patch.metadata = parse_metadata(&mut errors, Some(v));
        }
        reject_unknown_keys(&mut errors, body, &Self::KEYS);
        errors.finish(|| patch)
    }
}

fn parse_tags(errors: &mut ValidationErrors, value: Option<&Value>) -> Option<Vec<String>> {
    let Some(Value::Array(items)) = value else {
        errors.push("tags", expected("array", value), "invalid_type");
        return None;
    };
    if items.len() > super::limits::TAGS_MAX {
        let max = super::limits::TAGS_MAX;
        errors.push(
            "tags",
            format!("Too big: expected array to have <={max} items"),
            "too_big",
        );
        return None;
    }
    let before = errors.0.len();
    let mut tags = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) if s.contains('\0') => errors.push(
                format!("tags.{i}"),
                "Must not contain NUL characters",
                "invalid_format",
            ),
            Value::String(s) => tags.push(s.clone()),
            other => errors.push(
                format!("tags.{i}"),
                expected("string", Some(other)),
                "invalid_type",
            ),
        }
    }
    if errors.0.len() > before {
        return None;
    }
    // Tags are not trimmed, exactly as before: clients trim them and some rely on that.
    if tags.iter().any(|t| js_len(t) == 0 || js_len(t) > 50) {
        errors.push(
            "tags",
            "Each tag must be between 1 and 50 characters",
            "custom",
        );
        return None;
    }
    Some(tags)
}

fn parse_metadata(
    errors: &mut ValidationErrors,
    value: Option<&Value>,
) -> Option<Map<String, Value>> {
    match value {
        Some(Value::Object(map))
            if super::limits::json_size(map) > super::limits::METADATA_MAX_BYTES =>
        {
            let max = super::limits::METADATA_MAX_BYTES;
            errors.push(
                "metadata",
                format!("Too big: expected metadata to be at most {max} bytes as JSON"),
                "too_big",
            );
            None
        }
        Some(Value::Object(map)) => {
            let as_value = Value::Object(map.clone());
            if contains_nul(&as_value) {
                errors.push(
                    "metadata",
                    "Must not contain NUL characters",
                    "invalid_format",
                );
                None
            } else {
                Some(map.clone())
            }
        }
        other => {
            errors.push("metadata", expected("record", other), "invalid_type");
            None
        }
    }
}

/// `GET /api/items` query, parsed from the raw pairs. Strict like the original: an unknown or
/// repeated parameter is a 400.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

impl ItemFilter {
    pub const DEFAULT_LIMIT: i64 = 100;
    pub const MAX_LIMIT: i64 = 1000;
    const KEYS: [&'static str; 6] = [
        "category", "status", "priority", "search", "limit", "offset",
    ];

    pub fn parse(pairs: &[(String, String)]) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let mut map: Map<String, Value> = Map::new();
        for (k, v) in pairs {
            match map.get_mut(k) {
                // A repeated key arrives as an array, which every field then refuses.
                Some(Value::Array(values)) => values.push(Value::String(v.clone())),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, Value::String(v.clone())]);
                }
                None => {
                    map.insert(k.clone(), Value::String(v.clone()));
                }
            }
        }
        let category = map
            .get("category")
            .and_then(|v| CategoryName::parse_field(&mut errors, "category", Some(v)))
            .map(|c| c.as_str().to_string());
        let status = map
            .get("status")
            .and_then(|v| parse_choice(&mut errors, "status", Some(v), &Status::ALL));
        let priority = map
            .get("priority")
            .and_then(|v| parse_choice(&mut errors, "priority", Some(v), &Priority::ALL));
        let search = match map.get("search") {
            None => None,
            Some(Value::String(s)) if s.contains('\0') => {
                errors.push(
                    "search",
                    "Must not contain NUL characters",
                    "invalid_format",
                );
                None
            }
            Some(Value::String(s)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
            Some(other) => {
                errors.push("search", expected("string", Some(other)), "invalid_type");
                None
            }
        };
        let limit = parse_int(&mut errors, "limit", map.get("limit"), 1, Self::MAX_LIMIT)
            .unwrap_or(Self::DEFAULT_LIMIT);
        let offset = parse_int(
            &mut errors,
            "offset",
            map.get("offset"),
            0,
            i64::from(i32::MAX),
        )
        .unwrap_or(0);
        reject_unknown_keys(&mut errors, &map, &Self::KEYS);
        errors.finish(|| ItemFilter {
            category,
            status,
            priority,
            search,
            limit,
            offset,
        })
    }
}

/// `z.coerce.number().int()` with bounds, including Zod's wording for each failure.
fn parse_int(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<&Value>,
    min: i64,
    max: i64,
) -> Option<i64> {
    let raw = match value? {
        Value::String(s) => s.trim().to_string(),
        other => {
            errors.push(field, expected("number", Some(other)), "invalid_type");
            return None;
        }
    };
    // JavaScript's Number("") is 0, so an empty value coerces to 0 rather than NaN.
    let number: f64 = if raw.is_empty() {
        0.0
    } else {
        match raw.parse::<f64>() {
            Ok(n) if n.is_finite() => n,
            _ => {
                errors.push(
                    field,
                    "Invalid input: expected number, received NaN",
                    "invalid_type",
                );
                return None;
            }
        }
    };
    if number.fract() != 0.0 {
        errors.push(
            field,
            "Invalid input: expected int, received number",
            "invalid_type",
        );
        return None;
    }
    if number < min as f64 {
        let rule = if min == 0 { ">=0" } else { ">0" };
        errors.push(
            field,
            format!("Too small: expected number to be {rule}"),
            "too_small",
        );
        return None;
    }
    if number > max as f64 {
        errors.push(
            field,
            format!("Too big: expected number to be <={max}"),
            "too_big",
        );
        return None;
    }
    Some(number as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ids_must_be_positive_integers() {
        assert_eq!(ItemId::parse("42"), Some(ItemId(42)));
        assert_eq!(ItemId::parse(" 7 "), Some(ItemId(7)));
        for bad in ["0", "-1", "abc", "stats", "1e3", "99999999999", "", "1.5"] {
            assert_eq!(ItemId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn create_collects_every_error_in_schema_order() {
        let err = NewItem::parse(&json!({"priority": "invalid", "category": "Bad"})).unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "description", "category", "priority"]);
        assert_eq!(
            err.0[0].message,
            "Invalid input: expected string, received undefined"
        );
        assert_eq!(
            err.0[3].message,
            "Invalid option: expected one of \"low\"|\"medium\"|\"high\"|\"critical\""
        );
    }

    #[test]
    fn create_defaults_tags_and_metadata_and_keeps_metadata() {
        let item = NewItem::parse(&json!({
            "title": " t ", "description": "d", "category": "dashboard", "priority": "low",
            "metadata": {"source": "x", "n": [1, 2]}, "status": "completed", "extra": 1
        }))
        .unwrap();
        assert_eq!(item.title, "t");
        assert!(item.tags.is_empty());
        assert_eq!(item.metadata["source"], "x");
    }

    #[test]
    fn tags_report_the_element_path() {
        let err = ItemPatch::parse(&json!({"tags": ["ok", 3]})).unwrap_err();
        assert_eq!(err.0[0].field, "tags.1");
        let err = ItemPatch::parse(&json!({"tags": ["x".repeat(51)]})).unwrap_err();
        assert_eq!(err.0[0].code, "custom");
    }

    #[test]
    fn patch_refuses_nulls_and_unknown_keys() {
        let err = ItemPatch::parse(&json!({"title": null, "id": "1"})).unwrap_err();
        assert_eq!(
            err.0[0].message,
            "Invalid input: expected string, received null"
        );
        assert_eq!(err.0[1].code, "unrecognized_keys");
        assert_eq!(ItemPatch::parse(&json!({})).unwrap(), ItemPatch::default());
    }

    #[test]
    fn filter_defaults_and_bounds() {
        let f = ItemFilter::parse(&[]).unwrap();
        assert_eq!(
            serde_json::to_value(&f).unwrap(),
            json!({"limit": 100, "offset": 0})
        );
        let f = ItemFilter::parse(&pairs(&[
            ("limit", "5"),
            ("offset", "10"),
            ("search", " a "),
        ]))
        .unwrap();
        assert_eq!((f.limit, f.offset, f.search.as_deref()), (5, 10, Some("a")));
        for (k, v, code) in [
            ("limit", "abc", "invalid_type"),
            ("limit", "0", "too_small"),
            ("limit", "1001", "too_big"),
            ("limit", "-5", "too_small"),
            ("limit", "1.5", "invalid_type"),
            ("offset", "-1", "too_small"),
            ("offset", "1e300", "too_big"),
            ("status", "done", "invalid_value"),
            ("bogus", "1", "unrecognized_keys"),
        ] {
            let err = ItemFilter::parse(&pairs(&[(k, v)])).unwrap_err();
            assert_eq!(err.0[0].code, code, "{k}={v}");
        }
        let err =
            ItemFilter::parse(&pairs(&[("status", "new"), ("status", "review")])).unwrap_err();
        assert_eq!(err.0[0].field, "status");
    }
}
