//! Categories: the name type shared with items, and the parsed create/update bodies.
//!
//! The original accepted any category name on create (so `"Bad Name!"` could be created but
//! never used by an item) and failed with a 500 on overlong values. Here the name follows the
//! same rule items use, and every field is checked before the database sees it.

use serde_json::{Map, Value};

use super::validation::{as_object, expected, parse_string, StrRule, ValidationErrors};

/// A category name: trimmed, 1..100 characters of `[a-z0-9-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CategoryName(String);

impl CategoryName {
    const RULE: StrRule<'static> = StrRule {
        min: 1,
        max: 100,
        too_short: "Category is required",
        too_long: "Category name must be less than 100 characters",
    };

    pub fn parse(raw: &str) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let name = Self::parse_field(&mut errors, "name", Some(&Value::String(raw.to_string())));
        errors.finish_some(|| name)
    }

    pub(crate) fn parse_field(
        errors: &mut ValidationErrors,
        field: &str,
        value: Option<&Value>,
    ) -> Option<Self> {
        let name = parse_string(errors, field, value, &Self::RULE)?;
        if name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            Some(CategoryName(name))
        } else {
            errors.push(
                field,
                "Category must be lowercase letters, numbers, and hyphens only",
                "invalid_format",
            );
            None
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CategoryName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const DISPLAY_NAME: StrRule<'static> = StrRule {
    min: 1,
    max: 200,
    too_short: "Display name cannot be empty",
    too_long: "Display name must be less than 200 characters",
};
const DESCRIPTION: StrRule<'static> = StrRule {
    min: 0,
    max: 2000,
    too_short: "",
    too_long: "Description must be less than 2000 characters",
};
const ICON: StrRule<'static> = StrRule {
    min: 1,
    max: 50,
    too_short: "Icon cannot be empty",
    too_long: "Icon must be less than 50 characters",
};
pub const MAX_SORT_ORDER: i64 = 1_000_000;
/// Where a category without an explicit order goes: after the six seeded ones.
pub const DEFAULT_SORT_ORDER: i32 = 99;

/// A validated `POST /api/categories` body. Unknown keys are ignored (the dashboard sends extra
/// ones), as before.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCategory {
    pub name: CategoryName,
    pub display_name: String,
    pub description: Option<String>,
    pub sort_order: i32,
    pub color: Option<String>,
    pub icon: Option<String>,
}

impl NewCategory {
    pub fn parse(body: &Value) -> Result<Self, ValidationErrors> {
        let body = as_object(body)?;
        let mut errors = ValidationErrors::default();
        let name = match body.get("name") {
            None | Some(Value::Null) => {
                errors.push("name", "Category name is required", "invalid_type");
                None
            }
            value => CategoryName::parse_field(&mut errors, "name", value),
        };
        let display_name = optional(body, "display_name")
            .and_then(|v| parse_string(&mut errors, "display_name", Some(v), &DISPLAY_NAME));
        let description = optional(body, "description")
            .and_then(|v| parse_string(&mut errors, "description", Some(v), &DESCRIPTION));
        let sort_order = sort_order(&mut errors, body);
        let color = optional(body, "color").and_then(|v| parse_color(&mut errors, v));
        let icon =
            optional(body, "icon").and_then(|v| parse_string(&mut errors, "icon", Some(v), &ICON));
        errors.finish_some(|| {
            let name = name?;
            Some(NewCategory {
                display_name: display_name.unwrap_or_else(|| name.as_str().to_string()),
                name,
                description: description.filter(|d| !d.is_empty()),
                sort_order: sort_order.unwrap_or(DEFAULT_SORT_ORDER),
                color,
                icon,
            })
        })
    }

    /// Whether the body has no usable `name` as the original judged it (`!req.body.name`:
    /// absent, null, false, 0 or ""); it answered that with its own 400 message.
    pub fn name_missing(body: &Value) -> bool {
        match body.get("name") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Number(n)) => n.as_f64() == Some(0.0),
            Some(_) => false,
        }
    }
}

/// A field that may be set, cleared (`null`) or left alone (absent).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Change<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

/// A validated `PUT /api/categories/{name}` body. `display_order` is accepted as an alias of
/// `sort_order` because that is what the dashboard sends; `name` is ignored (renaming would
/// orphan items).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CategoryPatch {
    pub display_name: Option<String>,
    pub description: Change<String>,
    pub sort_order: Option<i32>,
    pub is_active: Option<bool>,
    pub color: Change<String>,
    pub icon: Change<String>,
}

impl CategoryPatch {
    pub fn parse(body: &Value) -> Result<Self, ValidationErrors> {
        let body = as_object(body)?;
        let mut errors = ValidationErrors::default();
        let mut patch = CategoryPatch {
            display_name: optional(body, "display_name")
                .and_then(|v| parse_string(&mut errors, "display_name", Some(v), &DISPLAY_NAME)),
            sort_order: sort_order(&mut errors, body),
            ..Default::default()
        };
        patch.description = change(body, "description", |v| {
            parse_string(&mut errors, "description", Some(v), &DESCRIPTION)
        });
        patch.color = change(body, "color", |v| parse_color(&mut errors, v));
        patch.icon = change(body, "icon", |v| {
            parse_string(&mut errors, "icon", Some(v), &ICON)
        });
        match body.get("is_active") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => patch.is_active = Some(*b),
            other => errors.push("is_active", expected("boolean", other), "invalid_type"),
        }
        errors.finish(|| patch)
    }
}

fn optional<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    body.get(key).filter(|v| !v.is_null())
}

fn change<T>(
    body: &Map<String, Value>,
    key: &str,
    parse: impl FnOnce(&Value) -> Option<T>,
) -> Change<T> {
    match body.get(key) {
        None => Change::Keep,
        Some(Value::Null) => Change::Clear,
        Some(v) => parse(v).map_or(Change::Keep, Change::Set),
    }
}

/// `sort_order`, or its alias `display_order`; each one given is checked, `sort_order` wins.
fn sort_order(errors: &mut ValidationErrors, body: &Map<String, Value>) -> Option<i32> {
    let mut chosen = None;
    for field in ["display_order", "sort_order"] {
        if let Some(value) = optional(body, field) {
            chosen = sort_order_value(errors, field, value).or(chosen);
        }
    }
    chosen
}

fn sort_order_value(errors: &mut ValidationErrors, field: &str, value: &Value) -> Option<i32> {
    // `949.0` is an integer to JSON Schema and to JavaScript, where the original took it.
    let integral = value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() <= 9.0e15)
            .map(|f| f as i64)
    });
    match integral {
        Some(n) if (0..=MAX_SORT_ORDER).contains(&n) => Some(n as i32),
        Some(_) => {
            errors.push(
                field,
                format!("Too big: expected number to be between 0 and {MAX_SORT_ORDER}"),
                "too_big",
            );
            None
        }
        None => {
            errors.push(field, expected("int", Some(value)), "invalid_type");
            None
        }
    }
}

fn parse_color(errors: &mut ValidationErrors, value: &Value) -> Option<String> {
    match value {
        Value::String(s)
            if s.len() == 7
                && s.starts_with('#')
                && s[1..].bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Some(s.to_string())
        }
        Value::String(_) => {
            errors.push(
                "color",
                "Color must be a hex value like #6B7280",
                "invalid_format",
            );
            None
        }
        other => {
            errors.push("color", expected("string", Some(other)), "invalid_type");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_the_item_rule() {
        assert!(CategoryName::parse("coleta-dados").is_ok());
        for bad in ["Bad Name!", "", "UPPER", &"a".repeat(101), "a\u{0}"] {
            assert!(CategoryName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn create_keeps_zero_order_and_defaults_display_name() {
        let c =
            NewCategory::parse(&json!({"name": "docs", "display_order": 0, "color": "#112233"}))
                .unwrap();
        assert_eq!((c.sort_order, c.display_name.as_str()), (0, "docs"));
        let c = NewCategory::parse(&json!({"name": "docs"})).unwrap();
        assert_eq!(c.sort_order, DEFAULT_SORT_ORDER);
        let e = NewCategory::parse(&json!({})).unwrap_err();
        assert_eq!(e.0[0].message, "Category name is required");
        let e = NewCategory::parse(&json!({"name": "ok", "display_order": "x", "color": "red"}))
            .unwrap_err();
        assert_eq!(e.0.len(), 2);
    }

    #[test]
    fn patch_distinguishes_clear_from_keep() {
        let p =
            CategoryPatch::parse(&json!({"description": null, "display_order": 3, "name": "x"}))
                .unwrap();
        assert_eq!(p.description, Change::Clear);
        assert_eq!(p.sort_order, Some(3));
        assert_eq!(p.color, Change::Keep);
        assert!(CategoryPatch::parse(&json!({"is_active": "yes"})).is_err());
    }
}
