//! Field-level validation errors and the small parsing helpers shared by items and categories.
//!
//! Messages and codes follow Zod 4's defaults (what the original service emitted), except where
//! the original schema set its own message, so that clients matching on them keep working.

use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Dotted path of the offending field (`title`, `tags.0`); `unknown` when the error is about
    /// the object as a whole (unrecognised keys, a body that is not an object).
    pub field: String,
    pub message: String,
    /// Zod issue code: `invalid_type`, `too_small`, `too_big`, `invalid_value`,
    /// `invalid_format`, `unrecognized_keys`, `custom`, or `invalid_category`.
    pub code: String,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>, code: &str) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
            code: code.to_string(),
        });
    }

    pub fn single(field: &str, message: impl Into<String>, code: &str) -> Self {
        let mut errors = Self::default();
        errors.push(field, message, code);
        errors
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was recorded, so parsers can collect every problem first and
    /// report them together, as Zod does.
    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, Self> {
        self.finish_some(|| Some(value()))
    }

    /// Like `finish`, for a value assembled from fields that were each checked: a field that
    /// yielded nothing without recording why is reported as an error, never unwrapped.
    pub fn finish_some<T>(mut self, value: impl FnOnce() -> Option<T>) -> Result<T, Self> {
        if !self.0.is_empty() {
            return Err(self);
        }
        match value() {
            Some(v) => Ok(v),
            None => {
                self.push("unknown", "Invalid input", "custom");
                Err(self)
            }
        }
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        write!(f, "{}", parts.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}

/// The type name Zod reports in "expected X, received Y".
pub fn type_name(value: Option<&Value>) -> &'static str {
    match value {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

pub fn expected(kind: &str, value: Option<&Value>) -> String {
    format!(
        "Invalid input: expected {kind}, received {}",
        type_name(value)
    )
}

/// Length as JavaScript counts it (UTF-16 code units): the web clients enforce the same limits
/// client-side with `string.length`, so both sides must agree on what "200 characters" means.
pub fn js_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Limits for one trimmed string field, with the original schema's messages.
pub struct StrRule<'a> {
    pub min: usize,
    pub max: usize,
    pub too_short: &'a str,
    pub too_long: &'a str,
}

/// Parses a JSON string field: type check, trim, NUL check (PostgreSQL text cannot store NUL),
/// then length. Records problems in `errors` and returns the trimmed value when it is valid.
pub fn parse_string(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<&Value>,
    rule: &StrRule<'_>,
) -> Option<String> {
    let Some(Value::String(raw)) = value else {
        errors.push(field, expected("string", value), "invalid_type");
        return None;
    };
    let trimmed = js_trim(raw);
    if trimmed.contains('\0') {
        errors.push(field, "Must not contain NUL characters", "invalid_format");
        return None;
    }
    let len = js_len(trimmed);
    if len < rule.min {
        errors.push(field, rule.too_short, "too_small");
        None
    } else if len > rule.max {
        errors.push(field, rule.too_long, "too_big");
        None
    } else {
        Some(trimmed.to_string())
    }
}

/// JavaScript's `String.prototype.trim` (what Zod's `.trim()` ran): its whitespace and line
/// terminators, which differ from Rust's `trim` (U+FEFF is trimmed, U+0085 is not).
pub fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_whitespace)
}

pub fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// Checks an enum-like string field against its allowed values, with Zod 4's message.
pub fn parse_choice<T: Copy>(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<&Value>,
    choices: &[(&str, T)],
) -> Option<T> {
    if let Some(Value::String(s)) = value {
        if let Some((_, v)) = choices.iter().find(|(name, _)| name == s) {
            return Some(*v);
        }
    }
    let list: Vec<String> = choices.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    errors.push(
        field,
        format!("Invalid option: expected one of {}", list.join("|")),
        "invalid_value",
    );
    None
}

/// Rejects keys outside `allowed` (for the strict schemas), with Zod's message.
pub fn reject_unknown_keys(
    errors: &mut ValidationErrors,
    body: &Map<String, Value>,
    allowed: &[&str],
) {
    let unknown: Vec<String> = body
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| format!("\"{k}\""))
        .collect();
    match unknown.len() {
        0 => {}
        1 => errors.push(
            "unknown",
            format!("Unrecognized key: {}", unknown[0]),
            "unrecognized_keys",
        ),
        _ => errors.push(
            "unknown",
            format!("Unrecognized keys: {}", unknown.join(", ")),
            "unrecognized_keys",
        ),
    }
}

/// The body must be a JSON object; anything else is one `unknown` error.
pub fn as_object(body: &Value) -> Result<&Map<String, Value>, ValidationErrors> {
    body.as_object().ok_or_else(|| {
        ValidationErrors::single("unknown", expected("object", Some(body)), "invalid_type")
    })
}

/// True when a JSON value holds a NUL anywhere (in a key or a string): jsonb refuses it, so it
/// must be a 400 here rather than a database error later.
pub fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_rule_trims_and_counts_utf16_units() {
        let rule = StrRule {
            min: 1,
            max: 2,
            too_short: "short",
            too_long: "long",
        };
        let mut errors = ValidationErrors::default();
        assert_eq!(
            parse_string(&mut errors, "f", Some(&json!("  ab  ")), &rule),
            Some("ab".into())
        );
        // One emoji is two UTF-16 units, so it fits exactly; two do not.
        assert!(parse_string(&mut errors, "f", Some(&json!("😀")), &rule).is_some());
        assert!(parse_string(&mut errors, "f", Some(&json!("😀😀")), &rule).is_none());
        assert!(parse_string(&mut errors, "f", Some(&json!("   ")), &rule).is_none());
        assert!(parse_string(&mut errors, "f", Some(&json!("a\u{0}")), &rule).is_none());
        let codes: Vec<_> = errors.0.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(codes, ["too_big", "too_small", "invalid_format"]);
    }

    #[test]
    fn unknown_keys_are_listed_in_one_error() {
        let body = json!({"id": 1, "createdAt": 2, "title": "x"});
        let mut errors = ValidationErrors::default();
        reject_unknown_keys(&mut errors, body.as_object().unwrap(), &["title"]);
        assert_eq!(
            errors.0[0].message,
            "Unrecognized keys: \"id\", \"createdAt\""
        );
        assert_eq!(errors.0[0].field, "unknown");
    }

    #[test]
    fn nul_is_found_in_nested_keys_and_values() {
        assert!(contains_nul(&json!({"a": [{"b": "x\u{0}"}]})));
        assert!(contains_nul(&json!({"k\u{0}": 1})));
        assert!(!contains_nul(&json!({"a": ["ok", 1, null]})));
    }
}
