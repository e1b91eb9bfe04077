//! Neon's storage JWT check (`NeonJWT`) as the pageserver and the safekeepers run it at
//! 6a35a3e9: a pre-routing middleware skips the allow-listed routes and otherwise needs
//! `Authorization: Bearer <token>` (libs/http-utils/src/endpoint.rs:628-669), then each
//! handler checks the token's scope against the tenant it touches (endpoint.rs:703-712,
//! pageserver/src/auth.rs:4-34, safekeeper/src/auth.rs:7-36).
//!
//! The bodies are `HttpErrorBody` (libs/http-utils/src/error.rs:110-133) of `ApiError`'s
//! Display (error.rs:15-19, 56-62): a missing or malformed header is 401; a token that does not
//! verify is 403 with a deliberately vague message (error.rs:101-108), as is a wrong scope.

use std::path::Path;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use ed25519_dalek::VerifyingKey;
use workspace_stack::stack::neon_auth::{self, Claims, Scope};

use crate::fail;

pub const MISSING: &str = r#"{"msg":"Unauthorized: missing authorization header"}"#;
pub const MALFORMED: &str = r#"{"msg":"Unauthorized: malformed authorization header"}"#;
pub const FORBIDDEN: &str = r#"{"msg":"Forbidden: JWT authentication error"}"#;

#[derive(Clone, Copy)]
pub enum Component {
    Pageserver,
    Safekeeper,
}

/// What the middleware needs: the key (None: auth is off) and whose rules apply.
#[derive(Clone)]
pub struct Auth {
    pub key: Option<VerifyingKey>,
    pub component: Component,
}

impl Auth {
    pub fn load(path: Option<&str>, component: Component) -> Auth {
        // An empty path means auth is off (safekeeper/src/bin/safekeeper.rs:300-312).
        let key = path.filter(|p| !p.is_empty()).map(|p| {
            neon_auth::read_public_key(Path::new(p)).unwrap_or_else(|e| fail(&format!("{e:#}")))
        });
        Auth { key, component }
    }

    fn allowlist(&self) -> &'static [&'static str] {
        match self.component {
            // pageserver/src/http/routes.rs:135-142
            Component::Pageserver => &[
                "/v1/status",
                "/v1/doc",
                "/swagger.yml",
                "/metrics",
                "/profile/cpu",
                "/profile/heap",
            ],
            // safekeeper/src/http/routes.rs:710-711
            Component::Safekeeper => &["/v1/status", "/metrics", "/profile/cpu", "/profile/heap"],
        }
    }

    /// `check_permission` of the component (pageserver/src/auth.rs:4-34,
    /// safekeeper/src/auth.rs:7-36).
    fn permits(&self, claims: &Claims, tenant: Option<&str>) -> bool {
        let blanket = match self.component {
            Component::Pageserver => Scope::PageServerApi,
            Component::Safekeeper => Scope::SafekeeperData,
        };
        match (claims.scope, tenant) {
            (Scope::Tenant, None) => false,
            (Scope::Tenant, Some(t)) => claims.tenant_id.as_deref() == Some(t),
            (scope, _) => scope == blanket,
        }
    }

    /// `Err((status, body))` when Neon would refuse the request.
    fn verdict(&self, path: &str, header: Option<&[u8]>) -> Result<(), (u16, &'static str)> {
        let Some(key) = &self.key else { return Ok(()) };
        if self.allowlist().contains(&path) {
            return Ok(());
        }
        let refuse = |status: u16, body: &'static str| Err((status, body));
        let Some(header) = header else {
            return refuse(401, MISSING);
        };
        let Some(token) = std::str::from_utf8(header)
            .ok()
            .and_then(|h| h.split_once(' '))
            .and_then(|(prefix, token)| (prefix == "Bearer").then_some(token))
        else {
            return refuse(401, MALFORMED);
        };
        let Ok(claims) = neon_auth::verify(key, token) else {
            return refuse(403, FORBIDDEN);
        };
        // Every route the stand-ins serve under /v1/tenant/ checks that tenant; the rest are
        // management routes (tenant None). A shard suffix (`-0102`) is not part of the id.
        let tenant = path
            .strip_prefix("/v1/tenant/")
            .and_then(|rest| rest.split('/').next())
            .filter(|t| t.len() >= 32)
            .map(|t| &t[..32]);
        if !self.permits(&claims, tenant) {
            return refuse(403, FORBIDDEN);
        }
        Ok(())
    }
}

/// The middleware, for `actix_web::middleware::from_fn`; `Auth` is app data.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let auth = req
        .app_data::<web::Data<Auth>>()
        .expect("Auth is app data")
        .clone();
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    match auth.verdict(req.path(), header.as_deref()) {
        Ok(()) => Ok(next.call(req).await?.map_into_left_body()),
        Err((status, body)) => {
            let refusal =
                HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                    .content_type("application/json")
                    .body(body);
            Ok(req.into_response(refusal).map_into_right_body())
        }
    }
}
