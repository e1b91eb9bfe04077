//! Request extractors that fail with the API's own JSON errors instead of actix's plain-text
//! ones: the body as JSON (10 MB limit, 413 beyond it) and the raw query pairs.

use actix_web::dev::Payload;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::{ready, LocalBoxFuture, Ready};
use futures_util::StreamExt;
use serde_json::{Map, Value};

use super::error::ApiError;

/// The original service's body limit (`express.json({limit: "10mb"})`).
pub const BODY_LIMIT: usize = 10 * 1024 * 1024;

/// A request body parsed as JSON; an empty body is `{}` (what the original saw), a form body is
/// an object of strings. Validation happens later, in the domain types.
pub struct JsonBody(pub Value);

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let content_type = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|n| n > BODY_LIMIT) {
                return Err(ApiError::PayloadTooLarge);
            }
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| ApiError::MalformedJson(e.to_string()))?;
                if body.len() + chunk.len() > BODY_LIMIT {
                    return Err(ApiError::PayloadTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            parse_body(&content_type, &body).map(JsonBody)
        })
    }
}

fn parse_body(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    if media == "application/x-www-form-urlencoded" {
        let map: Map<String, Value> = form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        return Ok(Value::Object(map));
    }
    if !(media.is_empty() || media == "application/json" || media.ends_with("+json")) {
        if body.is_empty() {
            return Ok(Value::Object(Map::new()));
        }
        return Err(ApiError::UnsupportedMediaType(media.to_string()));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    // express.json() is strict: only an object or an array is a body.
    if !(value.is_object() || value.is_array()) {
        return Err(ApiError::MalformedJson(
            "a JSON body must be an object or an array".into(),
        ));
    }
    Ok(value)
}

/// The query string as decoded key/value pairs, repeats kept so they can be refused.
pub struct QueryPairs(pub Vec<(String, String)>);

impl FromRequest for QueryPairs {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let pairs = form_urlencoded::parse(req.query_string().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        ready(Ok(QueryPairs(pairs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_parse_by_content_type() {
        assert_eq!(parse_body("", b"").unwrap(), serde_json::json!({}));
        assert_eq!(
            parse_body("application/json; charset=utf-8", b"[1]").unwrap(),
            serde_json::json!([1])
        );
        assert_eq!(
            parse_body("application/x-www-form-urlencoded", b"title=a+b").unwrap(),
            serde_json::json!({"title": "a b"})
        );
        assert!(matches!(
            parse_body("application/json", b"{"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_body("text/xml", b"<a/>"),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        let deep = "[".repeat(10_000);
        assert!(matches!(
            parse_body("application/json", deep.as_bytes()),
            Err(ApiError::MalformedJson(_))
        ));
    }
}
