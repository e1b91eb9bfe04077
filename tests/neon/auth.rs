//! Attacks on the Neon storage's management APIs and on the tokens: a local process without
//! the stack's token, with a token of the wrong scope or tenant, or signed with another key, is
//! refused with Neon's bodies (libs/http-utils/src/endpoint.rs:628-712, error.rs:56-62,
//! 101-108); another local account (`nobody`) reads neither the key nor a token.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use workspace_stack::stack::neon_auth::{self, Claims, Scope};

use super::{one_at_a_time, service_pid, text, token, NeonStack};

const MISSING: &str = r#"{"msg":"Unauthorized: missing authorization header"}"#;
const MALFORMED: &str = r#"{"msg":"Unauthorized: malformed authorization header"}"#;
const FORBIDDEN: &str = r#"{"msg":"Forbidden: JWT authentication error"}"#;

fn call(method: reqwest::Method, url: &str, auth: Option<&str>) -> (u16, String) {
    let mut r = reqwest::blocking::Client::new().request(method, url);
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    let r = r.send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `cat`s `path` as `nobody`; true when that worked.
fn nobody_reads(path: &str) -> bool {
    Command::new("/bin/cat")
        .arg(path)
        .uid(65534)
        .gid(65534)
        .current_dir("/")
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn storage_apis_refuse_callers_without_the_stacks_token_or_with_the_wrong_scope() {
    let _turn = one_at_a_time();
    let s = NeonStack::new("wsctl-neon-auth-");
    let o = s.up(&[]);
    assert!(o.status.success(), "{}", text(&o));
    let st: Value =
        serde_json::from_slice(&std::fs::read(s.state.join("state.json")).unwrap()).unwrap();
    let n = &st["neon"];
    let tenant = n["tenant_id"].as_str().unwrap();
    let timeline = n["timeline_id"].as_str().unwrap();
    let ps = format!("http://127.0.0.1:{}", n["pageserver_http_port"]);
    let sk = format!("http://127.0.0.1:{}", n["safekeeper_http_port"]);
    let ps_tenant = format!("{ps}/v1/tenant/{tenant}");
    let sk_timeline = format!("{sk}/v1/tenant/{tenant}/timeline/{timeline}");
    use reqwest::Method;

    // Health checks stay open, as Neon allow-lists them.
    assert_eq!(call(Method::GET, &format!("{ps}/v1/status"), None).0, 200);
    assert_eq!(call(Method::GET, &format!("{sk}/v1/status"), None).0, 200);
    // No token: 401, on the pageserver (detaching the tenant) and the safekeeper (deleting WAL).
    let detach = format!("{ps_tenant}/location_config");
    assert_eq!(call(Method::PUT, &detach, None), (401, MISSING.into()));
    assert_eq!(call(Method::GET, &ps_tenant, None), (401, MISSING.into()));
    assert_eq!(
        call(Method::DELETE, &sk_timeline, None),
        (401, MISSING.into())
    );
    assert_eq!(
        call(Method::GET, &ps_tenant, Some("Basic YWRtaW46YWRtaW4=")),
        (401, MALFORMED.into())
    );
    // A token signed with a key of the attacker's own: 403.
    let other = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let forged = neon_auth::mint(&other, &Claims::new(None, Scope::PageServerApi));
    let bearer = |t: &str| format!("Bearer {t}");
    assert_eq!(
        call(Method::GET, &ps_tenant, Some(&bearer(&forged))),
        (403, FORBIDDEN.into())
    );
    // The stack's own tokens, each where its scope does not reach: 403.
    let sk_token = token(&s.state, Scope::SafekeeperData);
    let ps_token = token(&s.state, Scope::PageServerApi);
    let dir = workspace_stack::stack::state::StateDir::resolve(Some(&s.state)).unwrap();
    let other_tenant = neon_auth::token(&dir, Some(&"0".repeat(32)), Scope::Tenant).unwrap();
    let own_tenant = neon_auth::token(&dir, Some(tenant), Scope::Tenant).unwrap();
    for (url, t) in [
        (&ps_tenant, &sk_token),
        (&ps_tenant, &other_tenant),
        (&sk_timeline, &ps_token),
        (&sk_timeline, &other_tenant),
    ] {
        let method = if url == &ps_tenant {
            Method::GET
        } else {
            Method::DELETE
        };
        assert_eq!(
            call(method, url, Some(&bearer(t))),
            (403, FORBIDDEN.into()),
            "{url}"
        );
    }
    // A tenant's token reaches its own tenant only, never the management API.
    assert_eq!(
        call(Method::GET, &ps_tenant, Some(&bearer(&own_tenant))).0,
        200
    );
    assert_eq!(
        call(
            Method::GET,
            &format!("{ps}/v1/tenant"),
            Some(&bearer(&own_tenant))
        ),
        (403, FORBIDDEN.into())
    );
    assert_eq!(
        call(Method::GET, &ps_tenant, Some(&bearer(&ps_token))).0,
        200
    );
    // The tenant is still there and wsctl, which has the key, still works.
    let o = s.wsctl(&["branch", "create", "feat"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = s.wsctl(&["branch", "delete", "feat", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    secrets_stay_with_their_parts(&s, tenant);
}

/// Another local account reads neither the key, nor a token, nor the password's verifier; each
/// part holds only the token it needs.
fn secrets_stay_with_their_parts(s: &NeonStack, tenant: &str) {
    let key = s.state.join("secrets").join(neon_auth::PRIVATE_KEY);
    assert_eq!(mode(&key), 0o600);
    let compute_config = s.state.join("neon/compute/config.json");
    let ps_pid = service_pid(s, "pageserver").unwrap();
    for secret in [
        key.display().to_string(),
        s.state
            .join("neon/pageserver/pageserver.toml")
            .display()
            .to_string(),
        compute_config.display().to_string(),
        format!("/proc/{ps_pid}/environ"),
    ] {
        assert!(!nobody_reads(&secret), "nobody read {secret}");
    }
    // What each part was given: the pageserver a safekeeper token, the compute a tenant token.
    let environ = std::fs::read(format!("/proc/{ps_pid}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    let ps_sk = environ
        .split('\0')
        .find_map(|v| v.strip_prefix("NEON_AUTH_TOKEN="))
        .expect("the pageserver has NEON_AUTH_TOKEN");
    let public = neon_auth::read_public_key(&s.state.join("neon/auth_public_key.pem")).unwrap();
    assert_eq!(
        neon_auth::verify(&public, ps_sk).unwrap().scope,
        Scope::SafekeeperData
    );
    let config: Value = serde_json::from_slice(&std::fs::read(&compute_config).unwrap()).unwrap();
    let spec = &config["spec"];
    let claims = neon_auth::verify(&public, spec["storage_auth_token"].as_str().unwrap()).unwrap();
    assert_eq!(claims, Claims::new(Some(tenant), Scope::Tenant));
    let role = &spec["cluster"]["roles"][0];
    assert_eq!(role["name"], "cloud_admin");
    assert!(role["encrypted_password"]
        .as_str()
        .unwrap()
        .starts_with("SCRAM-SHA-256$4096:"));
    assert_eq!(spec["skip_pg_catalog_updates"], false);
}

/// `psql` as `nobody` to the compute on `host`:`port` as `user`; true when it got in.
fn nobody_logs_in(host: &str, port: u16, user: &str, password: Option<&str>) -> bool {
    let psql = workspace_stack::stack::postgres::PgBinaries::discover(None)
        .unwrap()
        .tool("psql");
    let mut c = Command::new(psql);
    c.args(["-X", "-w", "-h", host, "-p", &port.to_string(), "-U", user])
        .args(["-d", "postgres", "-tAc", "SELECT 1"])
        .env_remove("PGPASSWORD")
        .env("HOME", "/nonexistent")
        .uid(65534)
        .gid(65534)
        .current_dir("/");
    if let Some(p) = password {
        c.env("PGPASSWORD", p);
    }
    let o = c.output().unwrap();
    o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "1"
}

/// The basebackup's pg_hba trusts every loopback connection; the compute must not: another
/// local account gets in neither as the superuser nor as the API's role without the password,
/// over TCP or through the socket (which is in the compute's 0700 directory).
#[test]
fn other_local_accounts_cannot_log_in_to_the_compute_without_the_password() {
    let _turn = one_at_a_time();
    let s = NeonStack::new("wsctl-neon-hba-");
    let o = s.up(&[]);
    assert!(o.status.success(), "{}", text(&o));
    let st: Value =
        serde_json::from_slice(&std::fs::read(s.state.join("state.json")).unwrap()).unwrap();
    let api_role = st["superuser"].as_str().unwrap().to_string();
    let socket_dir = s.state.join("neon/compute");
    let socket_dir = socket_dir.to_str().unwrap();
    for user in ["cloud_admin", &api_role] {
        for host in ["127.0.0.1", "localhost", socket_dir] {
            assert!(
                !nobody_logs_in(host, s.pg_port, user, None),
                "nobody logged in to the compute as {user} on {host} without a password"
            );
        }
    }
    // The port is open to the password: the refusal above is authentication, not a firewall.
    let password = std::fs::read_to_string(s.state.join("secrets/pg-password")).unwrap();
    assert!(nobody_logs_in(
        "127.0.0.1",
        s.pg_port,
        &api_role,
        Some(password.trim())
    ));
    // wsctl, its health suite and the API still get in.
    let o = s.wsctl(&["test"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// `wsctl upcalls` (the compose project's upcall answerer) refuses to start without its token
/// and answers only callers that send it.
#[test]
fn the_upcall_answerer_needs_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let generations = dir.path().join("generations.json");
    let port = super::free_port();
    let run = |token: Option<&str>| {
        let mut c = Command::new(super::wsctl_bin());
        c.args(["upcalls", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--generations")
            .arg(&generations)
            .env_remove("WSCTL_UPCALL_TOKEN")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if let Some(t) = token {
            c.env("WSCTL_UPCALL_TOKEN", t);
        }
        c.spawn().unwrap()
    };
    // Without the token it must exit at once (kill it if it serves instead, so the test ends).
    let mut tokenless = run(None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while tokenless.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = tokenless.kill();
    let o = tokenless.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("WSCTL_UPCALL_TOKEN"),
        "{err}"
    );

    let mut answerer = run(Some("the-stacks-token"));
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::blocking::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "upcalls never listened"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let attach = format!("{base}/wsctl/v1/attach-generation");
    let body = serde_json::json!({"tenant": "0".repeat(32)});
    for (url, body) in [
        (&attach, &body),
        (
            &format!("{base}/upcall/v1/re-attach"),
            &serde_json::json!({"node_id": 1}),
        ),
        (
            &format!("{base}/upcall/v1/validate"),
            &serde_json::json!({"tenants": []}),
        ),
    ] {
        assert_eq!(
            http.post(url).json(body).send().unwrap().status(),
            401,
            "{url}"
        );
        let wrong = http
            .post(url)
            .bearer_auth("guess")
            .json(body)
            .send()
            .unwrap();
        assert_eq!(wrong.status(), 401, "{url}");
    }
    // No generation was handed out to the callers above: the first real one is 1.
    let r: Value = http
        .post(&attach)
        .bearer_auth("the-stacks-token")
        .json(&body)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["gen"], 1);
    unsafe { libc::kill(answerer.id() as i32, libc::SIGTERM) };
    assert!(answerer.wait().unwrap().success());
}
