//! The last resort: a handler that panics anyway answers `500` JSON and leaves a log line.
//!
//! Without this, actix drops the connection of a request whose handler panics, so the client
//! cannot tell whether its write happened. Nothing in the handlers is meant to panic (clippy
//! refuses unwrap/expect in `src/api` and `src/db`); this catches what slips through.

use std::any::Any;
use std::panic::AssertUnwindSafe;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::HttpResponse;
use futures_util::FutureExt;

/// Middleware (for `actix_web::middleware::from_fn`): runs the rest of the chain and turns a
/// panic into `500 {success:false, error:"InternalServerError", message:"Internal server error"}`.
pub async fn catch_panic(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let request = req.request().clone();
    // The future owns everything the handler touched; once it has panicked it is dropped and
    // never polled again, so nothing half-updated is observed afterwards.
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(response) => response.map(ServiceResponse::map_into_left_body),
        Err(payload) => {
            // Inside the observer's span, so the line carries the correlation id.
            tracing::error!(
                method = %request.method(),
                path = %request.path(),
                panic = %panic_message(payload.as_ref()),
                "request handler panicked; answered 500"
            );
            let response = HttpResponse::InternalServerError().json(serde_json::json!({
                "success": false,
                "error": "InternalServerError",
                "message": "Internal server error",
            }));
            Ok(ServiceResponse::new(request, response).map_into_right_body())
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(a non-string panic payload)"
    }
}
