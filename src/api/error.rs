//! Every failure a handler can produce, and the JSON envelope each one is sent as.
//!
//! Client mistakes are always 4xx with the original's envelope and wording. Database trouble
//! is a 503 that says what is wrong (so a load balancer backs off and a human knows where to
//! look); only genuine bugs are 500s, and those never carry internal details to the client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::db::categories::CategoryError;
use crate::db::items::WriteError;
use crate::domain::{FieldError, ValidationErrors};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed: {0}")]
    Validation(ValidationErrors),
    #[error("invalid category {category:?}")]
    InvalidCategory {
        category: String,
        valid: Vec<String>,
    },
    /// `POST /api/categories` without a name: the original's own message, not the envelope.
    #[error("category name is required")]
    CategoryNameRequired,
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("unsupported content type {0:?}")]
    UnsupportedMediaType(String),
    #[error("request body over the 10 MB limit")]
    PayloadTooLarge,
    #[error("item {0:?} not found")]
    ItemNotFound(String),
    #[error("category {0:?} not found")]
    CategoryNotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("schema outdated: {0}")]
    SchemaOutdated(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The connection was ended or refused for a moment (a branch or snapshot being copied,
    /// a restart): handlers retry these; one that escapes is a 503.
    #[error("database momentarily unavailable: {0}")]
    Momentary(String),
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// Classifies a database error: connection trouble and timeouts are 503s with the reason,
    /// a missing schema says which command creates it, anything else is logged as a bug.
    pub fn from_db(e: &tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        if let Some(code) = e.code() {
            if *code == SqlState::UNDEFINED_TABLE || *code == SqlState::INVALID_SCHEMA_NAME {
                return ApiError::SchemaOutdated(
                    "the workspace schema does not exist in this database — run `wsctl init` \
                     (or `workspace-api migrate`)"
                        .into(),
                );
            }
            if [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                SqlState::INVALID_CATALOG_NAME,
            ]
            .contains(code)
            {
                return ApiError::Momentary(e.to_string());
            }
            if *code == SqlState::QUERY_CANCELED {
                return ApiError::Unavailable("the query exceeded the statement timeout".into());
            }
            let class = &code.code()[..2];
            // 08: connection exceptions, 53: insufficient resources, 57: operator intervention
            // (shutdown, restart), 40: serialization failures, which a retry resolves.
            if matches!(class, "08" | "53" | "57" | "40") {
                return ApiError::Unavailable(e.to_string());
            }
            tracing::error!(error = %e, sqlstate = code.code(), "unexpected database error");
            return ApiError::Internal;
        }
        if e.is_closed() {
            return ApiError::Momentary(e.to_string());
        }
        ApiError::Unavailable(e.to_string())
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        ApiError::from_db(&e)
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::PoolError;
        match e {
            PoolError::Backend(e) => ApiError::from_db(&e),
            PoolError::Timeout(_) => {
                ApiError::Unavailable("timed out waiting for a database connection".into())
            }
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        ApiError::Validation(e)
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::UnknownCategory { category, valid } => {
                ApiError::InvalidCategory { category, valid }
            }
            // Handlers turn NotFound into the message with the id they were given.
            WriteError::NotFound => ApiError::ItemNotFound(String::new()),
            WriteError::Db(e) => ApiError::from_db(&e),
        }
    }
}

impl From<CategoryError> for ApiError {
    fn from(e: CategoryError) -> Self {
        match e {
            CategoryError::NotFound => ApiError::CategoryNotFound(String::new()),
            CategoryError::AlreadyExists => ApiError::Conflict(String::new()),
            CategoryError::InUse { items } => ApiError::Conflict(items.to_string()),
            CategoryError::Db(e) => ApiError::from_db(&e),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_)
            | ApiError::InvalidCategory { .. }
            | ApiError::CategoryNameRequired
            | ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::ItemNotFound(_) | ApiError::CategoryNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::SchemaOutdated(_) | ApiError::Unavailable(_) | ApiError::Momentary(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = match self {
            ApiError::Validation(errors) => validation_body(&errors.0),
            ApiError::InvalidCategory { category, valid } => {
                let message = format!(
                    "Invalid category '{category}'. Valid categories: {}",
                    valid.join(", ")
                );
                json!({
                    "success": false,
                    "error": "Error",
                    "message": message,
                    "errors": [{"field": "category", "message": message, "code": "invalid_category"}],
                })
            }
            ApiError::CategoryNameRequired => {
                json!({"success": false, "message": "Category name is required"})
            }
            ApiError::MalformedJson(message) => {
                json!({"success": false, "error": "SyntaxError", "message": message})
            }
            ApiError::UnsupportedMediaType(ct) => json!({
                "success": false,
                "error": "UnsupportedMediaType",
                "message": format!("Content-Type {ct:?} is not supported; send application/json"),
            }),
            ApiError::PayloadTooLarge => json!({
                "success": false, "error": "PayloadTooLargeError", "message": "request entity too large",
            }),
            ApiError::ItemNotFound(id) => {
                json!({"success": false, "message": format!("Item with id {id} not found")})
            }
            ApiError::CategoryNotFound(name) => {
                json!({"success": false, "message": format!("Category '{name}' not found")})
            }
            ApiError::Conflict(message) => json!({"success": false, "message": message}),
            ApiError::SchemaOutdated(message) => {
                json!({"success": false, "error": "SchemaOutdated", "message": message})
            }
            ApiError::Unavailable(reason) | ApiError::Momentary(reason) => json!({
                "success": false,
                "error": "ServiceUnavailable",
                "message": format!("database unavailable: {reason}"),
            }),
            ApiError::Internal => json!({
                "success": false, "error": "InternalServerError", "message": "Internal server error",
            }),
        };
        let mut response = HttpResponse::build(self.status_code());
        if matches!(
            self,
            ApiError::Unavailable(_) | ApiError::SchemaOutdated(_) | ApiError::Momentary(_)
        ) {
            response.insert_header(("Retry-After", "5"));
        }
        response.json(body)
    }
}

pub fn validation_body(errors: &[FieldError]) -> serde_json::Value {
    json!({
        "success": false,
        "error": "Error",
        "message": "Validation failed",
        "errors": errors,
    })
}
