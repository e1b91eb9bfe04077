//! The pageserver's control-plane upcalls, answered by wsctl itself.
//!
//! Without a storage controller the pageserver's `re-attach` call would retry forever and its
//! deletion queue's `validate` calls would never succeed. A single-node stack has exactly one
//! authority over generations — this supervisor — so it answers both: `re-attach` lists every
//! tenant this stack attached, each with a fresh generation (a tenant missing from the answer
//! would be detached and its local data purged), and `validate` confirms generations that are
//! still current.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Persisted in `neon/generations.json`: generations must only grow, across restarts too.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Generations {
    pub generation: u32,
    /// Tenants that have been attached at least once.
    pub tenants: Vec<String>,
}

#[derive(Clone)]
pub struct Upcalls {
    path: PathBuf,
    inner: Arc<Mutex<Generations>>,
    /// When set, every call must carry `Authorization: Bearer <token>`: the pageserver sends
    /// its `control_plane_api_token` that way (pageserver/src/controller_upcall_client.rs:82-89).
    token: Option<Arc<str>>,
}

impl Upcalls {
    pub fn load(path: PathBuf) -> anyhow::Result<Self> {
        let inner = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .with_context(|| format!("{} is corrupt", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Generations::default(),
            Err(e) => return Err(e.into()),
        };
        Ok(Upcalls {
            path,
            inner: Arc::new(Mutex::new(inner)),
            token: None,
        })
    }

    /// Requires `token` on every call from now on.
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Whether a request may be answered (constant-time compare of the bearer token).
    fn authorized(&self, req: &actix_web::HttpRequest) -> bool {
        let Some(want) = &self.token else {
            return true;
        };
        let got = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        got.len() == want.len()
            && got
                .bytes()
                .zip(want.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    fn save(&self, g: &Generations) -> anyhow::Result<()> {
        super::state::write_atomic(&self.path, &serde_json::to_vec_pretty(g)?, 0o644)
    }

    /// The next generation for an attach of `tenant`, recorded before it is used.
    pub fn next_generation(&self, tenant: &str) -> anyhow::Result<u32> {
        let mut g = self.inner.lock().expect("not poisoned");
        g.generation += 1;
        if !g.tenants.iter().any(|t| t == tenant) {
            g.tenants.push(tenant.to_string());
        }
        self.save(&g)?;
        Ok(g.generation)
    }

    pub fn current(&self) -> Generations {
        self.inner.lock().expect("not poisoned").clone()
    }

    fn re_attach(&self) -> anyhow::Result<serde_json::Value> {
        let mut g = self.inner.lock().expect("not poisoned");
        g.generation += 1;
        self.save(&g)?;
        let tenants: Vec<_> = g
            .tenants
            .iter()
            .map(|t| json!({"id": t, "gen": g.generation, "mode": "AttachedSingle", "stripe_size": 2048}))
            .collect();
        Ok(json!({ "tenants": tenants }))
    }

    fn validate(&self, body: &serde_json::Value) -> serde_json::Value {
        let g = self.inner.lock().expect("not poisoned");
        let answers: Vec<_> = body["tenants"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let id = t["id"].as_str().unwrap_or_default();
                let known = g.tenants.iter().any(|x| x == id);
                let valid = known && t["gen"].as_u64() == Some(u64::from(g.generation));
                json!({"id": id, "valid": valid})
            })
            .collect();
        json!({ "tenants": answers })
    }
}

fn unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized().json(json!({"msg": "missing or wrong bearer token"}))
}

async fn re_attach(upcalls: web::Data<Upcalls>, req: actix_web::HttpRequest) -> HttpResponse {
    if !upcalls.authorized(&req) {
        return unauthorized();
    }
    match upcalls.re_attach() {
        Ok(body) => {
            tracing::info!(%body, "answered pageserver re-attach");
            HttpResponse::Ok().json(body)
        }
        Err(e) => HttpResponse::InternalServerError().json(json!({"msg": format!("{e:#}")})),
    }
}

async fn validate(
    upcalls: web::Data<Upcalls>,
    req: actix_web::HttpRequest,
    body: web::Json<serde_json::Value>,
) -> HttpResponse {
    if !upcalls.authorized(&req) {
        return unauthorized();
    }
    HttpResponse::Ok().json(upcalls.validate(&body))
}

/// wsctl's own call (not Neon's): the generation for a new attach. In containers the answerer
/// runs in its own container, and only it may hand out generations.
async fn attach_generation(
    upcalls: web::Data<Upcalls>,
    req: actix_web::HttpRequest,
    body: web::Json<serde_json::Value>,
) -> HttpResponse {
    if !upcalls.authorized(&req) {
        return unauthorized();
    }
    let Some(tenant) = body["tenant"].as_str() else {
        return HttpResponse::BadRequest().json(json!({"msg": "tenant is missing"}));
    };
    match upcalls.next_generation(tenant) {
        Ok(gen) => HttpResponse::Ok().json(json!({ "gen": gen })),
        Err(e) => HttpResponse::InternalServerError().json(json!({"msg": format!("{e:#}")})),
    }
}

/// Serves the upcalls on 127.0.0.1:`port` from a thread of its own (it must keep answering
/// while the supervisor waits on other things), until the returned handle is stopped.
pub fn serve(port: u16, upcalls: Upcalls) -> anyhow::Result<actix_web::dev::ServerHandle> {
    serve_on(std::net::SocketAddr::from(([127, 0, 0, 1], port)), upcalls)
}

/// The same on any address (in a container: all of its interfaces).
pub fn serve_on(
    addr: std::net::SocketAddr,
    upcalls: Upcalls,
) -> anyhow::Result<actix_web::dev::ServerHandle> {
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("binding the upcall endpoint on {addr}"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let system = actix_web::rt::System::new();
        system.block_on(async move {
            let data = web::Data::new(upcalls);
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .route("/upcall/v1/re-attach", web::post().to(re_attach))
                    .route("/upcall/v1/validate", web::post().to(validate))
                    .route(
                        "/wsctl/v1/attach-generation",
                        web::post().to(attach_generation),
                    )
            })
            .workers(1)
            .disable_signals()
            .listen(listener);
            match server {
                Ok(s) => {
                    let s = s.run();
                    let _ = tx.send(Ok(s.handle()));
                    let _ = s.await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
    });
    Ok(rx.recv().context("the upcall server thread died")??)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_only_grow_and_validate_checks_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let u = Upcalls::load(dir.path().join("g.json")).unwrap();
        let g1 = u.next_generation("t1").unwrap();
        let reattach = u.re_attach().unwrap();
        let g2 = reattach["tenants"][0]["gen"].as_u64().unwrap() as u32;
        assert!(g2 > g1);
        assert_eq!(reattach["tenants"][0]["mode"], "AttachedSingle");
        let v = u.validate(&json!({"tenants": [{"id": "t1", "gen": g2}, {"id": "t1", "gen": g1}, {"id": "x", "gen": g2}]}));
        let valid: Vec<bool> = v["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["valid"].as_bool().unwrap())
            .collect();
        assert_eq!(valid, [true, false, false]);
        // Persisted: a restart continues from the same generation.
        let again = Upcalls::load(dir.path().join("g.json")).unwrap();
        assert_eq!(again.current().generation, g2);
    }
}
