//! The pageserver stand-in: Neon's HTTP routes with Neon's bodies and status codes
//! (tests/neon/fixtures/pageserver, behaviours from pageserver/src/http/routes.rs at 6a35a3e9).
//! It keeps tenants and timelines in its workdir; timeline data is a PostgreSQL data
//! directory in the stand-in store (see `crate::store`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{http::StatusCode, middleware::DefaultHeaders, web, App, HttpResponse, HttpServer};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::fixtures::{fixture, with_ids, BRANCH, OTHER, ROOT, TENANT};
use crate::{addr, fail, record, require};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Timeline {
    id: String,
    ancestor: Option<String>,
    ancestor_lsn: Option<String>,
    /// Unix seconds: history before this is not on the timeline (`past`).
    created: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Tenant {
    generation: u64,
    timelines: Vec<Timeline>,
    /// While an attach is in flight: the slot is InProgress until `busy_until`, then the tenant
    /// is Attaching until `attaching_until` (not persisted).
    #[serde(skip)]
    busy_until: Option<Instant>,
    #[serde(skip)]
    attaching_until: Option<Instant>,
}

type Tenants = Arc<Mutex<BTreeMap<String, Tenant>>>;

struct Ps {
    tenants: Tenants,
    dir: PathBuf,
    id: u64,
}

type Data = web::Data<Ps>;

impl Ps {
    fn save(&self) {
        let t = self.tenants.lock().unwrap();
        std::fs::write(
            self.dir.join("standin-tenants.json"),
            serde_json::to_vec(&*t).unwrap(),
        )
        .unwrap();
    }
}

/// How long an attach takes (`NEON_STANDIN_ATTACH_MS`, default 0): half of it the tenant's
/// slot is InProgress (GET answers 503), the other half the tenant is Attaching.
fn attach_time() -> Duration {
    Duration::from_millis(
        std::env::var("NEON_STANDIN_ATTACH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    )
}

fn json_body(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body)
}

fn is_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

pub async fn run(args: Vec<String>) {
    let dir = PathBuf::from(require(&args, "-D"));
    let identity: toml::Value = toml::from_str(
        &std::fs::read_to_string(dir.join("identity.toml"))
            .unwrap_or_else(|_| fail("no identity.toml")),
    )
    .unwrap_or_else(|e| fail(&format!("identity.toml: {e}")));
    let id = identity["id"]
        .as_integer()
        .unwrap_or_else(|| fail("identity.toml has no id")) as u64;
    let config: toml::Value = toml::from_str(
        &std::fs::read_to_string(dir.join("pageserver.toml"))
            .unwrap_or_else(|_| fail("no pageserver.toml")),
    )
    .unwrap_or_else(|e| fail(&format!("pageserver.toml: {e}")));
    check_config(&config);
    let stored: BTreeMap<String, Tenant> = std::fs::read(dir.join("standin-tenants.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    // Re-attach before serving HTTP, as Neon does (pageserver/src/bin/pageserver.rs:597,
    // tenant/mgr.rs:340-366): only tenants the control plane lists stay, with its generation.
    let api = config["control_plane_api"].as_str().unwrap().to_string();
    let token = config
        .get("control_plane_api_token")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let answer = reattach(&api, id, token.as_deref()).await;
    let mut attached = BTreeMap::new();
    let attaching = attach_time();
    for t in answer["tenants"].as_array().cloned().unwrap_or_default() {
        let tid = t["id"].as_str().unwrap().to_string();
        if t["mode"] != "AttachedSingle" {
            fail("re-attach answered an unexpected mode");
        }
        let mut tenant = stored.get(&tid).cloned().unwrap_or_default();
        tenant.generation = t["gen"].as_u64().unwrap();
        // Loaded tenants attach in the background after start-up: Attaching, not InProgress.
        tenant.attaching_until = Some(Instant::now() + attaching);
        attached.insert(tid, tenant);
    }
    record("pageserver", &args, json!({"reattach": answer}));
    let ps = web::Data::new(Ps {
        tenants: Arc::new(Mutex::new(attached)),
        dir,
        id,
    });
    ps.save();
    let http = config["listen_http_addr"].as_str().unwrap().to_string();
    let pg = config["listen_pg_addr"].as_str().unwrap().to_string();
    let _pg =
        std::net::TcpListener::bind(addr(&pg)).unwrap_or_else(|e| fail(&format!("bind {pg}: {e}")));
    let launched = chrono::Utc::now().to_rfc3339();
    let auth = web::Data::new(http_auth(&config));
    HttpServer::new(move || {
        App::new()
            .app_data(ps.clone())
            .app_data(auth.clone())
            .wrap(actix_web::middleware::from_fn(crate::auth::middleware))
            // Every pageserver response carries these (libs/http-utils/src/endpoint.rs:538-577,
            // pageserver/src/http/routes.rs:4009-4015).
            .wrap(
                DefaultHeaders::new()
                    .add(("x-request-id", crate::generate_id()))
                    .add(("PAGESERVER_LAUNCH_TIMESTAMP", launched.clone())),
            )
            .route("/v1/status", web::get().to(status))
            .route(
                "/v1/tenant/{t}/location_config",
                web::put().to(location_config),
            )
            .route("/v1/tenant/{t}", web::get().to(tenant))
            .route("/v1/tenant/{t}/timeline", web::post().to(create_timeline))
            .route("/v1/tenant/{t}/timeline/{tl}", web::get().to(timeline))
            .route(
                "/v1/tenant/{t}/timeline/{tl}",
                web::delete().to(delete_timeline),
            )
            .route(
                "/v1/tenant/{t}/timeline/{tl}/get_lsn_by_timestamp",
                web::get().to(lsn_by_timestamp),
            )
            .default_service(web::to(|| async {
                json_body(
                    StatusCode::NOT_FOUND,
                    fixture!("pageserver/ANY_unknown_route.404.json").into(),
                )
            }))
    })
    .workers(1)
    .bind(addr(&http))
    .unwrap_or_else(|e| fail(&format!("bind {http}: {e}")))
    .run()
    .await
    .unwrap();
}

/// `http_auth_type = 'NeonJWT'` needs `auth_validation_public_key_path`
/// (pageserver/src/bin/pageserver.rs:461-488; Trust is the default, config.rs:740-743).
fn http_auth(config: &toml::Value) -> crate::auth::Auth {
    let kind = |k: &str| config.get(k).and_then(|v| v.as_str()).unwrap_or("Trust");
    for k in ["http_auth_type", "pg_auth_type"] {
        if !["Trust", "NeonJWT"].contains(&kind(k)) {
            fail(&format!("pageserver.toml: {k} must be Trust or NeonJWT"));
        }
    }
    let path = config
        .get("auth_validation_public_key_path")
        .and_then(|v| v.as_str());
    if [kind("http_auth_type"), kind("pg_auth_type")].contains(&"NeonJWT") && path.is_none() {
        fail("pageserver.toml: NeonJWT needs auth_validation_public_key_path");
    }
    let path = (kind("http_auth_type") == "NeonJWT")
        .then_some(path)
        .flatten();
    crate::auth::Auth::load(path, crate::auth::Component::Pageserver)
}

fn check_config(config: &toml::Value) {
    for key in [
        "listen_pg_addr",
        "listen_http_addr",
        "pg_distrib_dir",
        "broker_endpoint",
        "control_plane_api",
    ] {
        if config.get(key).and_then(|v| v.as_str()).is_none() {
            fail(&format!("pageserver.toml lacks {key}"));
        }
    }
    let remote = &config["remote_storage"];
    let local_ok = remote
        .get("local_path")
        .and_then(|v| v.as_str())
        .is_some_and(|p| Path::new(p).is_absolute());
    let s3_ok = remote.get("bucket_name").and_then(|v| v.as_str()).is_some()
        && remote
            .get("bucket_region")
            .and_then(|v| v.as_str())
            .is_some();
    if !(local_ok || s3_ok) {
        fail("remote_storage needs an absolute local_path, or bucket_name and bucket_region");
    }
    let distrib = Path::new(config["pg_distrib_dir"].as_str().unwrap());
    for f in ["v17/bin/postgres", "v17/bin/initdb", "v17/lib"] {
        if !distrib.join(f).exists() {
            fail(&format!("pg_distrib_dir has no {f}"));
        }
    }
}

/// POST re-attach, retried with backoff as Neon does (controller_upcall_client.rs:114-149),
/// with `control_plane_api_token` as a bearer token when set (:82-89).
async fn reattach(api: &str, id: u64, token: Option<&str>) -> Value {
    let client = reqwest::Client::new();
    let mut wait = Duration::from_millis(100);
    loop {
        let mut req = client
            .post(format!("{api}re-attach"))
            .json(&json!({"node_id": id}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await;
        if let Ok(r) = r {
            if r.status().is_success() {
                if let Ok(v) = r.json::<Value>().await {
                    return v;
                }
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(3));
    }
}

async fn status(data: Data) -> HttpResponse {
    let body = fixture!("pageserver/GET_v1_status.200.json").replace("1", &data.id.to_string());
    json_body(StatusCode::OK, body)
}

/// TenantLocationConfigRequest's fields (libs/pageserver_api/src/models.rs:1342-1385), so
/// that serde reports missing and unknown fields in Neon's words.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct LocationConfigRequest {
    mode: String,
    generation: Option<u32>,
    secondary_conf: Option<Value>,
    #[serde(default)]
    shard_number: u8,
    #[serde(default)]
    shard_count: u8,
    #[serde(default)]
    shard_stripe_size: u32,
    tenant_conf: Value,
}

fn bad_request(msg: &str) -> HttpResponse {
    // ApiError::BadRequest formats with {:#?}: a plain message is quoted (error.rs:52-55).
    json_body(
        StatusCode::BAD_REQUEST,
        json!({"msg": format!("{msg:?}")}).to_string(),
    )
}

async fn location_config(data: Data, path: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let tid = path.into_inner();
    if !is_id(&tid) {
        return json_body(
            StatusCode::BAD_REQUEST,
            fixture!("pageserver/GET_v1_tenant_id.400_bad_id.json").into(),
        );
    }
    if body.is_empty() {
        return json_body(
            StatusCode::BAD_REQUEST,
            fixture!("pageserver/PUT_v1_tenant_id_location_config.400_empty_body.json").into(),
        );
    }
    let req: LocationConfigRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(&format!("Failed to parse json request: {e}")),
    };
    if req.mode == "Detached" {
        data.tenants.lock().unwrap().remove(&tid);
        data.save();
        return json_body(StatusCode::OK, "null".into());
    }
    let Some(generation) = req.generation else {
        return json_body(
            StatusCode::BAD_REQUEST,
            fixture!("pageserver/PUT_v1_tenant_id_location_config.400_no_generation.json").into(),
        );
    };
    let busy = attach_time() / 2;
    {
        let mut tenants = data.tenants.lock().unwrap();
        let t = tenants.entry(tid.clone()).or_default();
        if t.busy_until.is_some_and(|u| Instant::now() < u) {
            return json_body(
                StatusCode::CONFLICT,
                fixture!("pageserver/PUT_v1_tenant_id_location_config.409.json").into(),
            );
        }
        t.generation = u64::from(generation);
        t.busy_until = Some(Instant::now() + busy);
        t.attaching_until = Some(Instant::now() + busy * 2);
    }
    // The handler holds the slot InProgress until the new tenant is in place (mgr.rs:972-1000).
    tokio::time::sleep(busy).await;
    data.save();
    let body = with_ids(
        fixture!("pageserver/PUT_v1_tenant_id_location_config.200.attached.json"),
        &[(TENANT, &tid)],
    )
    .replace("\"node_id\":1", &format!("\"node_id\":{}", data.id));
    json_body(StatusCode::OK, body)
}

async fn tenant(data: Data, path: web::Path<String>) -> HttpResponse {
    let tid = path.into_inner();
    if !is_id(&tid) {
        return json_body(
            StatusCode::BAD_REQUEST,
            fixture!("pageserver/GET_v1_tenant_id.400_bad_id.json").into(),
        );
    }
    let Some(t) = data.tenants.lock().unwrap().get(&tid).cloned() else {
        return json_body(
            StatusCode::NOT_FOUND,
            with_ids(
                fixture!("pageserver/GET_v1_tenant_id.404.json"),
                &[(TENANT, &tid)],
            ),
        );
    };
    let now = Instant::now();
    if t.busy_until.is_some_and(|u| now < u) {
        return json_body(
            StatusCode::SERVICE_UNAVAILABLE,
            fixture!("pageserver/GET_v1_tenant_id.503_not_active.json").into(),
        );
    }
    let template = if t.attaching_until.is_some_and(|u| now < u) {
        fixture!("pageserver/GET_v1_tenant_id.attaching.200.json")
    } else {
        fixture!("pageserver/GET_v1_tenant_id.active.200.json")
    };
    let mut body: Value = serde_json::from_str(&with_ids(template, &[(TENANT, &tid)])).unwrap();
    body["generation"] = json!(t.generation);
    body["timelines"] = json!(t.timelines.iter().map(|x| &x.id).collect::<Vec<_>>());
    json_body(StatusCode::OK, body.to_string())
}

/// Routes that need an active tenant wait for it, as `wait_to_become_active` does.
async fn active_tenant(data: &Data, tid: &str) -> Option<Tenant> {
    loop {
        let t = data.tenants.lock().unwrap().get(tid).cloned()?;
        match t.attaching_until {
            Some(u) if Instant::now() < u => tokio::time::sleep(Duration::from_millis(20)).await,
            _ => return Some(t),
        }
    }
}

fn timeline_info(template: &str, tid: &str, t: &Timeline) -> String {
    let mut v: Value = serde_json::from_str(&with_ids(
        template,
        &[
            (TENANT, tid),
            (BRANCH, &t.id),
            (ROOT, t.ancestor.as_deref().unwrap_or(ROOT)),
        ],
    ))
    .unwrap();
    if t.ancestor.is_none() {
        v["timeline_id"] = json!(t.id);
    }
    if let Some(lsn) = &t.ancestor_lsn {
        v["ancestor_lsn"] = json!(lsn);
    }
    v.to_string()
}

fn template_for(t: &Timeline) -> &'static str {
    if t.ancestor.is_some() {
        fixture!("pageserver/GET_v1_tenant_id_timeline_id.200.branch.json")
    } else {
        fixture!("pageserver/GET_v1_tenant_id_timeline_id.200.main.json")
    }
}

async fn create_timeline(
    data: Data,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    let tid = path.into_inner();
    let Some(tl) = body["new_timeline_id"]
        .as_str()
        .filter(|t| is_id(t))
        .map(str::to_string)
    else {
        return bad_request("Failed to parse json request: missing field `new_timeline_id`");
    };
    // TimelineCreateRequestMode is untagged: Branch needs ancestor_timeline_id and a valid or
    // absent ancestor_start_lsn; anything else falls through to Bootstrap (models.rs:393-418).
    let lsn = body.get("ancestor_start_lsn").filter(|v| !v.is_null());
    let lsn_ok = lsn.map_or(true, |v| {
        v.as_str().is_some_and(workspace_stack::stack::neon::is_lsn)
    });
    let ancestor = body["ancestor_timeline_id"]
        .as_str()
        .filter(|_| lsn_ok)
        .map(str::to_string);
    let ancestor_lsn = ancestor
        .as_ref()
        .and_then(|_| lsn.and_then(|v| v.as_str()).map(str::to_string));
    let Some(tenant) = active_tenant(&data, &tid).await else {
        return json_body(
            StatusCode::NOT_FOUND,
            with_ids(
                fixture!("pageserver/POST_v1_tenant_id_timeline.404_tenant.json"),
                &[(TENANT, &tid)],
            ),
        );
    };
    if let Some(existing) = tenant.timelines.iter().find(|t| t.id == tl) {
        // Idempotent repeat: 201 again; other parameters: 409 (tenant.rs:5183-5209).
        if existing.ancestor != ancestor
            || (ancestor.is_some() && existing.ancestor_lsn != ancestor_lsn)
        {
            return json_body(
                StatusCode::CONFLICT,
                fixture!("pageserver/POST_v1_tenant_id_timeline.409_conflict.json").into(),
            );
        }
        return json_body(
            StatusCode::CREATED,
            timeline_info(template_for(existing), &tid, existing),
        );
    }
    if let Some(a) = &ancestor {
        if !tenant.timelines.iter().any(|t| &t.id == a) {
            return json_body(
                StatusCode::INTERNAL_SERVER_ERROR,
                with_ids(
                    fixture!("pageserver/POST_v1_tenant_id_timeline.500_ancestor_missing.json"),
                    &[(TENANT, &tid), (ROOT, a)],
                ),
            );
        }
        let (a, new) = (a.clone(), tl.clone());
        let copied = web::block(move || crate::branch_data(&a, &new))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        if let Err(e) = copied {
            return json_body(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"msg": format!("stand-in could not copy the ancestor: {e}")}).to_string(),
            );
        }
    }
    let t = Timeline {
        id: tl,
        ancestor,
        ancestor_lsn,
        created: chrono::Utc::now().timestamp(),
    };
    if let Some(tenant) = data.tenants.lock().unwrap().get_mut(&tid) {
        tenant.timelines.push(t.clone());
    }
    data.save();
    let template = if t.ancestor.is_some() {
        fixture!("pageserver/POST_v1_tenant_id_timeline.201.branch.json")
    } else {
        fixture!("pageserver/POST_v1_tenant_id_timeline.201.bootstrap.json")
    };
    json_body(StatusCode::CREATED, timeline_info(template, &tid, &t))
}

async fn timeline(data: Data, path: web::Path<(String, String)>) -> HttpResponse {
    let (tid, tl) = path.into_inner();
    let Some(tenant) = active_tenant(&data, &tid).await else {
        return json_body(
            StatusCode::NOT_FOUND,
            with_ids(
                fixture!("pageserver/GET_v1_tenant_id_timeline_id.404_tenant.json"),
                &[(TENANT, &tid)],
            ),
        );
    };
    match tenant.timelines.iter().find(|t| t.id == tl) {
        Some(t) => json_body(StatusCode::OK, timeline_info(template_for(t), &tid, t)),
        None => json_body(
            StatusCode::NOT_FOUND,
            with_ids(
                fixture!("pageserver/GET_v1_tenant_id_timeline_id.404.json"),
                &[(TENANT, &tid), (OTHER, &tl)],
            ),
        ),
    }
}

async fn delete_timeline(data: Data, path: web::Path<(String, String)>) -> HttpResponse {
    let (tid, tl) = path.into_inner();
    // A missing tenant is 412, not 404, on purpose (routes.rs:1163-1176).
    if active_tenant(&data, &tid).await.is_none() {
        return json_body(
            StatusCode::PRECONDITION_FAILED,
            fixture!("pageserver/DELETE_v1_tenant_id_timeline_id.412_tenant_missing.json").into(),
        );
    }
    let mut tenants = data.tenants.lock().unwrap();
    let timelines = &mut tenants.get_mut(&tid).unwrap().timelines;
    if !timelines.iter().any(|t| t.id == tl) {
        return json_body(
            StatusCode::NOT_FOUND,
            fixture!("pageserver/DELETE_v1_tenant_id_timeline_id.404.json").into(),
        );
    }
    let children: Vec<&str> = timelines
        .iter()
        .filter(|t| t.ancestor.as_deref() == Some(tl.as_str()))
        .map(|t| t.id.as_str())
        .collect();
    if !children.is_empty() {
        // tenant/timeline/delete.rs:499-513 lists the children as `[a, b]`.
        let body = json!({"msg": format!(
            "Precondition failed: Cannot delete timeline which has child timelines: [{}]",
            children.join(", ")
        )});
        return json_body(StatusCode::PRECONDITION_FAILED, body.to_string());
    }
    timelines.retain(|t| t.id != tl);
    drop(tenants);
    if let Some(store) = crate::store() {
        let _ = std::fs::remove_dir_all(store.join(&tl));
    }
    data.save();
    record("pageserver", &[], json!({"deleted_timeline": tl}));
    json_body(
        StatusCode::ACCEPTED,
        fixture!("pageserver/DELETE_v1_tenant_id_timeline_id.202.json").into(),
    )
}

/// get_lsn_by_timestamp: the query value is form-urlencoded-decoded, then parsed with
/// `humantime::parse_rfc3339`, the parser Neon calls (routes.rs:1052-1055).
async fn lsn_by_timestamp(
    data: Data,
    path: web::Path<(String, String)>,
    req: actix_web::HttpRequest,
) -> HttpResponse {
    let (tid, tl) = path.into_inner();
    let raw = form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "timestamp")
        .map(|(_, v)| v.into_owned());
    let Some(raw) = raw else {
        return json_body(
            StatusCode::BAD_REQUEST,
            fixture!("pageserver/GET_get_lsn_by_timestamp.400_missing_timestamp.json").into(),
        );
    };
    let at = match invalid_time(&raw) {
        Ok(t) => t,
        Err(body) => return json_body(StatusCode::BAD_REQUEST, body),
    };
    let Some(tenant) = active_tenant(&data, &tid).await else {
        return json_body(
            StatusCode::NOT_FOUND,
            with_ids(
                fixture!("pageserver/GET_v1_tenant_id.404.json"),
                &[(TENANT, &tid)],
            ),
        );
    };
    let Some(t) = tenant.timelines.iter().find(|t| t.id == tl) else {
        return json_body(
            StatusCode::NOT_FOUND,
            with_ids(
                fixture!("pageserver/GET_v1_tenant_id_timeline_id.404.json"),
                &[(TENANT, &tid), (OTHER, &tl)],
            ),
        );
    };
    let forced = std::fs::read_to_string(data.dir.join("standin-lsn-kind")).ok();
    json_body(
        StatusCode::OK,
        lsn_answer(t, at, forced.as_deref().map(str::trim)).into(),
    )
}

/// Parses as Neon does; the error is Neon's 400 body, `{:#?}` of the anyhow error with the
/// `Invalid time: "<raw>"` context (error.rs:52-55).
pub fn invalid_time(raw: &str) -> Result<std::time::SystemTime, String> {
    use anyhow::Context;
    humantime::parse_rfc3339(raw)
        .with_context(|| format!("Invalid time: {raw:?}"))
        .map_err(|e| json!({"msg": format!("{e:#?}")}).to_string())
}

/// Which `kind` Neon would answer (pgdatadir_mapping.rs:65-95), modelled on wall-clock time:
/// before the timeline was created is `past`, after now is `future`, between is `present`.
/// A file `standin-lsn-kind` in the workdir forces a kind (`nodata` is what Neon answers for
/// a timeline without any commit record, which a running stack never has).
fn lsn_answer(t: &Timeline, at: std::time::SystemTime, forced: Option<&str>) -> &'static str {
    let secs = at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let kind = match forced {
        Some(k) => k.to_string(),
        None if secs < t.created => "past".into(),
        None if secs > chrono::Utc::now().timestamp() => "future".into(),
        None => "present".into(),
    };
    match kind.as_str() {
        "past" => fixture!("pageserver/GET_get_lsn_by_timestamp.200.past.json"),
        "future" => fixture!("pageserver/GET_get_lsn_by_timestamp.200.future.json"),
        "nodata" => fixture!("pageserver/GET_get_lsn_by_timestamp.200.nodata.json"),
        _ => fixture!("pageserver/GET_get_lsn_by_timestamp.200.present.json"),
    }
}
