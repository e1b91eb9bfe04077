//! How much a client can make the API hold in memory: request bodies are read here, before any
//! handler, with a size limit, a deadline for the whole body, and one budget of buffered bytes
//! for the whole process, so slow or stalled uploads can neither pile up nor last forever.
//!
//! A body is held (and counted against the budget) until its handler has answered, since the
//! parsed JSON lives that long too. What stored data can make a response hold is bounded by
//! `domain::limits` (sizes accepted on write, bytes per list page).

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{web, HttpMessage, HttpResponse, ResponseError};
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{timeout_at, Instant};

use super::error::ApiError;
use crate::domain::limits::BODY_LIMIT;

/// Bytes of request bodies the whole process buffers at once; beyond it a body waits for room
/// (within its deadline), then is refused with a 503.
pub const BODY_BUDGET: usize = 64 * 1024 * 1024;
/// The budget is counted in units of this many bytes.
const UNIT: usize = 1024;

pub struct BodyLimits {
    pub limit: usize,
    pub timeout: Duration,
    budget: Arc<Semaphore>,
}

impl BodyLimits {
    pub fn new(timeout: Duration) -> Self {
        BodyLimits {
            limit: BODY_LIMIT,
            timeout,
            budget: Arc::new(Semaphore::new(BODY_BUDGET / UNIT)),
        }
    }
}

enum Refusal {
    TooLarge,
    Timeout(Duration),
    Busy,
    Broken(String),
}

impl Refusal {
    fn response(self) -> HttpResponse {
        let (status, error, message) = match self {
            Refusal::TooLarge => return ApiError::PayloadTooLarge.error_response(),
            Refusal::Broken(e) => return ApiError::MalformedJson(e).error_response(),
            Refusal::Timeout(t) => (
                StatusCode::REQUEST_TIMEOUT,
                "RequestTimeoutError",
                format!(
                    "the request body did not arrive within {} ms",
                    t.as_millis()
                ),
            ),
            Refusal::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "too many request bodies are being received at once; retry shortly".to_string(),
            ),
        };
        let mut response = HttpResponse::build(status);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header(("Retry-After", "1"));
        }
        // The rest of the body is never read, so the connection cannot carry another request.
        response
            .force_close()
            .json(json!({"success": false, "error": error, "message": message}))
    }
}

/// Reads the whole body under the limits, holding budget for what it keeps.
async fn read(
    limits: &BodyLimits,
    payload: &mut Payload,
    declared: Option<usize>,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), Refusal> {
    if declared.is_some_and(|n| n > limits.limit) {
        return Err(Refusal::TooLarge);
    }
    let deadline = Instant::now() + limits.timeout;
    let mut body = BytesMut::new();
    let mut held: Option<OwnedSemaphorePermit> = None;
    loop {
        let chunk = match timeout_at(deadline, payload.next()).await {
            Err(_) => return Err(Refusal::Timeout(limits.timeout)),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(Refusal::Broken(e.to_string())),
            Ok(Some(Ok(chunk))) => chunk,
        };
        if body.len() + chunk.len() > limits.limit {
            return Err(Refusal::TooLarge);
        }
        // Room for what the buffer holds after this chunk, rounded up to whole units.
        let units = (body.len() + chunk.len()).div_ceil(UNIT);
        let have = held.as_ref().map_or(0, |p| p.num_permits());
        if units > have {
            let more = (units - have) as u32;
            let permit = timeout_at(deadline, limits.budget.clone().acquire_many_owned(more))
                .await
                .map_err(|_| Refusal::Busy)?
                .map_err(|_| Refusal::Busy)?;
            match &mut held {
                Some(p) => p.merge(permit),
                None => held = Some(permit),
            }
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body.freeze(), held))
}

pub async fn buffer_body(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let limits = req.app_data::<web::Data<BodyLimits>>().cloned();
    let headers = req.headers();
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let has_body = headers.contains_key(TRANSFER_ENCODING) || declared.is_some_and(|n| n > 0);
    let Some(limits) = limits.filter(|_| has_body) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let mut payload = req.take_payload();
    match read(&limits, &mut payload, declared).await {
        Ok((body, permit)) => {
            req.set_payload(Payload::from(body));
            let response = next.call(req).await;
            drop(permit);
            Ok(response?.map_into_left_body())
        }
        Err(refusal) => Ok(req.into_response(refusal.response()).map_into_right_body()),
    }
}
