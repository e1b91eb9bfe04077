//! The files compose reads: the env file, the compose file, generated services and, on Neon,
//! pageserver.toml, identity.toml and the compute specs.

use super::*;

/// The API's database connection inside the compose network: (host, port, database).
fn api_target(state: &StackState, branch: Option<&str>) -> (String, u16, String) {
    let branch = branch.unwrap_or(crate::branch::MAIN);
    match &state.neon {
        Some(_) if branch == crate::branch::MAIN => {
            ("compute".into(), 55433, state.database.clone())
        }
        Some(_) => (format!("compute-{branch}"), 55433, state.database.clone()),
        None => (
            "postgres".into(),
            5432,
            crate::branch::branch_db(&state.database, branch),
        ),
    }
}

/// Writes compose.env (0600), the compose file, generated.json and, on Neon, the configs.
pub fn write_files(dir: &StateDir, state: &StackState) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let files = Files::new(dir);
    std::fs::create_dir_all(files.config())?;
    // Compose reads these as root; containers see only the files mounted into them (bind
    // mounts do not check the host directories above), so nobody else needs to enter here.
    std::fs::set_permissions(&files.dir, std::fs::Permissions::from_mode(0o700))?;
    std::fs::set_permissions(files.config(), std::fs::Permissions::from_mode(0o755))?;

    let password = dir.secret("pg-password")?;
    let (host, port, db) = api_target(state, state.active_branch.as_deref());
    let mut env = vec![
        ("WS_IMAGE_TAG".to_string(), image_tag()),
        ("WS_PG_PASSWORD".into(), password.clone()),
        ("WS_PG_PORT".into(), state.pg_port.to_string()),
        ("WS_API_PORT".into(), state.api_port.to_string()),
        ("WS_API_DB_HOST".into(), host),
        ("WS_API_DB_PORT".into(), port.to_string()),
        ("WS_API_DATABASE".into(), db),
        ("WS_CONFIG_DIR".into(), files.config().display().to_string()),
    ];
    // The compose files read it as ${RATE_LIMIT_MAX:-120}, for the API and the previews.
    env.extend(state.api_env());
    let compose_text = match &state.neon {
        None => POSTGRES_COMPOSE,
        Some(n) => {
            env.extend([
                ("WS_BROKER_PORT".to_string(), n.broker_port.to_string()),
                (
                    "WS_PAGESERVER_HTTP_PORT".into(),
                    n.pageserver_http_port.to_string(),
                ),
                (
                    "WS_COMPUTE_HTTP_PORT".into(),
                    n.compute_http_port.to_string(),
                ),
                ("WS_UPCALL_PORT".into(), n.upcall_port.to_string()),
                (
                    "WS_COMPUTE_PGBIN".into(),
                    std::env::var("WSCTL_NEON_IMAGE_PGBIN")
                        .unwrap_or_else(|_| "/usr/local/bin/postgres".into()),
                ),
            ]);
            for k in 1..=3u16 {
                env.push((
                    format!("WS_SAFEKEEPER_HTTP_PORT_{k}"),
                    (n.safekeeper_http_port + k - 1).to_string(),
                ));
            }
            // Storage checks Neon JWTs (see the compose file's `--*-auth-public-key-path`).
            let key = crate::stack::neon_auth::signing_key(dir)?;
            crate::stack::neon_auth::write_public_key(
                &key,
                &files.config().join("auth_public_key.pem"),
            )?;
            let mint = |tenant: Option<&str>, scope| {
                crate::stack::neon_auth::mint(
                    &key,
                    &crate::stack::neon_auth::Claims::new(tenant, scope),
                )
            };
            use crate::stack::neon_auth::Scope;
            env.push((
                "WS_NEON_AUTH_TOKEN".into(),
                mint(None, Scope::SafekeeperData),
            ));
            // The upcall answerer's token, as natively (pageserver.toml, `wsctl upcalls`).
            let upcall_token = dir.secret("upcall-token")?;
            env.push(("WS_UPCALL_TOKEN".into(), upcall_token.clone()));
            let tokens = [mint(Some(&n.tenant_id), Scope::Tenant), upcall_token];
            write_neon_configs(&files, state, n, &password, &tokens)?;
            NEON_COMPOSE
        }
    };
    let env_text: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    write_atomic(&files.env(), env_text.as_bytes(), 0o600)?;
    write_atomic(
        &files.compose(state.backend),
        compose_text.as_bytes(),
        0o644,
    )?;
    write_atomic(
        &files.generated(),
        &serde_json::to_vec_pretty(&generated(state))?,
        0o644,
    )?;
    Ok(())
}

/// Services that come and go with branches: preview APIs and Neon branch computes. JSON is
/// YAML, so compose reads this as a second file. No secret is written here: the password is
/// interpolated from compose.env.
pub fn generated(state: &StackState) -> Value {
    let mut services = serde_json::Map::new();
    for p in &state.previews {
        let (host, port, db) = api_target(state, Some(&p.branch));
        services.insert(
            compose_service(&p.service()),
            json!({
                "image": format!("workspace-stack/api:{}", image_tag()),
                "command": ["workspace-api", "serve"],
                "environment": {
                    "DATABASE_URL": format!("postgres://{}:${{WS_PG_PASSWORD}}@{host}:{port}/{db}", state.superuser),
                    "WORKSPACE_HOST": "0.0.0.0",
                    "WORKSPACE_PORT": "3200",
                    "LOG_FORMAT": "json",
                    "RATE_LIMIT_MAX": "${RATE_LIMIT_MAX:-120}",
                },
                "depends_on": {host.clone(): {"condition": "service_healthy"}},
                "ports": [format!("127.0.0.1:{}:3200", p.port)],
                "networks": ["workspace"],
                "healthcheck": {
                    "test": ["CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:3200/health"],
                    "interval": "2s", "timeout": "3s", "retries": 30, "start_period": "30s",
                },
                "restart": "unless-stopped",
            }),
        );
    }
    if let Some(n) = &state.neon {
        for b in &n.branches {
            services.insert(
                format!("compute-{}", b.name),
                compute_service(
                    n,
                    &format!("ep-{}", b.name),
                    &format!("compute-{}.json", b.name),
                    b.pg_port,
                    b.http_port,
                ),
            );
        }
    }
    json!({ "services": services })
}

/// A compute service (main's is in the compose file; branches' are generated alike).
fn compute_service(
    n: &crate::stack::neon::NeonState,
    compute_id: &str,
    config: &str,
    pg_port: u16,
    http_port: u16,
) -> Value {
    let deps: serde_json::Map<String, Value> = std::iter::once("pageserver".to_string())
        .chain((1..=n.safekeepers).map(|k| format!("safekeeper-{k}")))
        .map(|s| (s, json!({"condition": "service_healthy"})))
        .collect();
    json!({
        "image": format!("workspace-stack/compute:{}", image_tag()),
        "command": [
            "compute_ctl", "--pgdata", "/data/pgdata",
            "--connstr", "postgresql://cloud_admin@127.0.0.1:55433/postgres",
            "--pgbin", "${WS_COMPUTE_PGBIN:-/usr/local/bin/postgres}",
            "--compute-id", compute_id, "--config", format!("/config/{config}"),
            "--external-http-port", "3080", "--internal-http-port", "3081", "--dev",
        ],
        "volumes": [format!("${{WS_CONFIG_DIR:?}}/{config}:/config/{config}:ro")],
        "shm_size": "256m",
        "depends_on": deps,
        "ports": [format!("127.0.0.1:{pg_port}:55433"), format!("127.0.0.1:{http_port}:3080")],
        "networks": ["workspace"],
        "healthcheck": {
            "test": ["CMD-SHELL", "curl -fsS http://127.0.0.1:3080/metrics | grep -q 'status=\"running\"} 1'"],
            "interval": "2s", "timeout": "3s", "retries": 60, "start_period": "60s",
        },
        "restart": "unless-stopped",
    })
}

/// pageserver.toml for the pageserver container: listens on the compose network, finds the
/// broker and the upcall answerer by service name, keeps remote storage in its volume or, when
/// the stack was created with `--remote-storage-bucket`, in that bucket (credentials from the
/// container's environment, which the compose file passes through from the host).
pub fn pageserver_toml(pg_distrib: &str, s3: Option<&crate::stack::neon::S3Storage>) -> String {
    crate::stack::neon::PageserverNet {
        listen_pg: "0.0.0.0:6400".into(),
        listen_http: "0.0.0.0:9898".into(),
        pg_distrib: pg_distrib.into(),
        broker_endpoint: "http://storage-broker:50051".into(),
        control_plane_api: "http://upcall:1234/upcall/v1/".into(),
        local_remote: "/data/remote".into(),
    }
    .toml(s3)
        + &crate::stack::neon::auth_toml_lines(std::path::Path::new("/data/auth_public_key.pem"))
}

/// compute_ctl's config for a compute container: the compose network's addresses, listening
/// on all of the container's interfaces, and the superuser's password (connections from the
/// host arrive through the engine's NAT, which the basebackup's pg_hba does not trust).
pub fn compute_config(
    n: &crate::stack::neon::NeonState,
    timeline_id: &str,
    password: &str,
    storage_token: &str,
) -> Value {
    let net = crate::stack::neon::ComputeNet {
        listen_addresses: "*".into(),
        pg_port: 55433,
        pageserver_connstring: "postgres://no_user@pageserver:6400".into(),
        safekeepers: (1..=n.safekeepers)
            .map(|k| format!("safekeeper-{k}:5454"))
            .collect(),
    };
    let mut c = net.config(&n.tenant_id, timeline_id, &crate::stack::neon::jwk());
    crate::stack::neon::secure_spec(&mut c, storage_token, "cloud_admin", password);
    c
}

fn write_neon_configs(
    files: &Files,
    state: &StackState,
    n: &crate::stack::neon::NeonState,
    password: &str,
    [storage_token, upcall_token]: &[String; 2],
) -> anyhow::Result<()> {
    let distrib =
        std::env::var("WSCTL_NEON_IMAGE_PG_DISTRIB").unwrap_or_else(|_| "/usr/local".into());
    let cfg = files.config();
    write_atomic(
        &cfg.join("identity.toml"),
        crate::stack::neon::IDENTITY_TOML,
        0o644,
    )?;
    // It holds the upcall token: readable in the container, behind the 0700 directory here.
    write_atomic(
        &cfg.join("pageserver.toml"),
        (pageserver_toml(&distrib, n.remote_storage.as_ref())
            + &crate::stack::neon::control_plane_token_line(upcall_token))
            .as_bytes(),
        0o644,
    )?;
    for ep in n.endpoints(state.pg_port) {
        // Readable inside the container whatever its user; the 0700 directory above keeps
        // other host users out (the spec holds the password's md5).
        write_atomic(
            &cfg.join(format!("{}.json", ep.service)),
            &serde_json::to_vec_pretty(&compute_config(
                n,
                &ep.timeline_id,
                password,
                storage_token,
            ))?,
            0o644,
        )?;
    }
    Ok(())
}
