//! Workspace API settings: command-line flags first, then the environment variables the
//! original service read (so existing deployments keep working), then defaults.
//!
//! There is deliberately no default password: without one, the connection relies on the
//! server's own authentication (peer, trust, `~/.pgpass`).

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use crate::db::DatabaseSettings;

/// Flags of `workspace-api serve` (and `migrate`, which only uses the database ones).
#[derive(Debug, Clone, Default, Args)]
pub struct ApiArgs {
    /// Address to listen on [env: WORKSPACE_HOST] [default: 127.0.0.1]
    #[arg(long)]
    pub host: Option<IpAddr>,
    /// Port to listen on; 0 picks a free one [env: WORKSPACE_PORT, PORT] [default: 3200]
    #[arg(long)]
    pub port: Option<u16>,
    /// PostgreSQL URL or key=value string [env: DATABASE_URL, POSTGRES_DATABASE_URL,
    /// NEON_DATABASE_URL, or the POSTGRES_*/NEON_* parts]
    #[arg(long)]
    pub database_url: Option<String>,
    /// Comma-separated allowed origins, `*` reflects any [env: CORS_ORIGIN]
    #[arg(long)]
    pub cors_origin: Option<String>,
    /// Rate-limit window in milliseconds [env: RATE_LIMIT_WINDOW_MS] [default: 60000]
    #[arg(long)]
    pub rate_limit_window_ms: Option<u64>,
    /// Requests allowed per client IP per window; 0 disables [env: RATE_LIMIT_MAX] [default: 120]
    #[arg(long)]
    pub rate_limit_max: Option<u32>,
    /// Take the client IP from X-Forwarded-For: the entry the one trusted proxy appended
    /// (only behind a proxy that sets it) [env: TRUST_PROXY=true or a hop count]
    #[arg(long)]
    pub trust_proxy: bool,
    /// How many proxies in front of the API append to X-Forwarded-For; the client IP is the
    /// entry that many from the right (as express's `trust proxy` number) [env: TRUST_PROXY]
    #[arg(long)]
    pub trust_proxy_hops: Option<u32>,
    /// Comma-separated extra Host names the API answers to (a gateway's public name; `.example.com`
    /// also covers its subdomains, `name:port` only that port, `*` turns the check off); loopback
    /// names and addresses are always served [env: ALLOWED_HOSTS]
    #[arg(long)]
    pub allowed_hosts: Option<String>,
    /// How long a client may take to send a request body, in milliseconds
    /// [env: BODY_READ_TIMEOUT_MS] [default: 10000]
    #[arg(long)]
    pub body_read_timeout_ms: Option<u64>,
    /// Maximum database connections [env: POSTGRES_POOL_MAX / NEON_POOL_MAX] [default: 16]
    #[arg(long)]
    pub pool_max: Option<usize>,
    /// Statement timeout in milliseconds [env: POSTGRES_STATEMENT_TIMEOUT /
    /// NEON_STATEMENT_TIMEOUT] [default: 30000]
    #[arg(long)]
    pub statement_timeout_ms: Option<u64>,
    /// Log format: pretty, json, or auto (json unless on a terminal) [env: LOG_FORMAT]
    #[arg(long)]
    pub log_format: Option<LogFormat>,
    /// HTTP worker threads [env: WORKSPACE_WORKERS] [default: one per core]
    #[arg(long)]
    pub workers: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Auto,
    Pretty,
    Json,
}

impl FromStr for LogFormat {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(LogFormat::Auto),
            "pretty" | "text" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            other => bail!("unknown log format {other:?}: use auto, pretty or json"),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Cors {
    Disabled,
    AnyOrigin,
    Origins(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct RateLimit {
    pub window: Duration,
    /// 0 turns the limiter off.
    pub max: u32,
    /// Proxies in front of the API that append to X-Forwarded-For; 0 ignores the header.
    pub trust_proxy_hops: u32,
}

#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub host: IpAddr,
    pub port: u16,
    pub database: DatabaseSettings,
    pub cors: Cors,
    pub rate_limit: RateLimit,
    pub log_format: LogFormat,
    pub workers: Option<usize>,
    /// How long in-flight requests get to finish on shutdown.
    pub shutdown_timeout: Duration,
    /// Host names served besides loopback and the bind address (`ALLOWED_HOSTS`).
    pub allowed_hosts: Vec<String>,
    /// Origins whose pages may write: the CORS list, even when CORS itself is disabled
    /// (`*` means any).
    pub trusted_origins: Vec<String>,
    pub body_read_timeout: Duration,
}

/// Reads variables through a function so tests can supply their own environment.
pub struct Env<'a>(pub &'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    pub fn process() -> Env<'static> {
        Env(&|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    fn first(&self, names: &[&str]) -> Option<(String, String)> {
        names
            .iter()
            .find_map(|n| (self.0)(n).map(|v| (n.to_string(), v)))
    }

    fn parse<T: FromStr>(&self, names: &[&str]) -> anyhow::Result<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        match self.first(names) {
            None => Ok(None),
            Some((name, v)) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|e| anyhow::anyhow!("{name}={v:?} is not valid: {e}")),
        }
    }

    fn flag(&self, name: &str) -> bool {
        self.first(&[name]).is_some_and(|(_, v)| {
            matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
        })
    }
}

impl ApiSettings {
    pub fn from_env(args: &ApiArgs) -> anyhow::Result<Self> {
        Self::load(args, &Env::process())
    }

    pub fn load(args: &ApiArgs, env: &Env<'_>) -> anyhow::Result<Self> {
        let host = match args.host {
            Some(h) => h,
            None => env
                .parse(&["WORKSPACE_HOST"])?
                .unwrap_or(IpAddr::from([127, 0, 0, 1])),
        };
        let port = match args.port {
            Some(p) => p,
            None => env.parse(&["WORKSPACE_PORT", "PORT"])?.unwrap_or(3200),
        };
        let list = args
            .cors_origin
            .clone()
            .or_else(|| env.first(&["CORS_ORIGIN"]).map(|(_, v)| v));
        let configured = parse_cors(list, env);
        let trusted_origins = match &configured {
            Cors::Origins(origins) => origins.clone(),
            _ => vec!["*".to_string()],
        };
        let cors = if env.flag("DISABLE_CORS") {
            Cors::Disabled
        } else {
            configured
        };
        let window_ms = match args.rate_limit_window_ms {
            Some(v) => v,
            None => env.parse(&["RATE_LIMIT_WINDOW_MS"])?.unwrap_or(60_000),
        };
        if window_ms == 0 {
            bail!("the rate-limit window must be at least 1 ms (RATE_LIMIT_WINDOW_MS / --rate-limit-window-ms)");
        }
        let rate_limit = RateLimit {
            window: Duration::from_millis(window_ms),
            max: match args.rate_limit_max {
                Some(v) => v,
                None => env.parse(&["RATE_LIMIT_MAX"])?.unwrap_or(120),
            },
            trust_proxy_hops: trust_proxy_hops(args, env)?,
        };
        let allowed_hosts = args
            .allowed_hosts
            .clone()
            .or_else(|| env.first(&["ALLOWED_HOSTS"]).map(|(_, v)| v))
            .map(|v| {
                v.split(',')
                    .map(|h| h.trim().to_string())
                    .filter(|h| !h.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let body_read_timeout_ms = match args.body_read_timeout_ms {
            Some(v) => v,
            None => env.parse(&["BODY_READ_TIMEOUT_MS"])?.unwrap_or(10_000),
        };
        if body_read_timeout_ms == 0 {
            bail!("the body read timeout must be at least 1 ms (BODY_READ_TIMEOUT_MS / --body-read-timeout-ms)");
        }
        let log_format = match args.log_format {
            Some(f) => f,
            None => env.parse(&["LOG_FORMAT"])?.unwrap_or(LogFormat::Auto),
        };
        Ok(ApiSettings {
            host,
            port,
            database: database_settings(args, env)?,
            cors,
            rate_limit,
            log_format,
            workers: match args.workers {
                Some(n) => Some(n),
                None => env.parse(&["WORKSPACE_WORKERS"])?,
            }
            .filter(|n| *n > 0),
            shutdown_timeout: Duration::from_secs(10),
            allowed_hosts,
            trusted_origins,
            body_read_timeout: Duration::from_millis(body_read_timeout_ms),
        })
    }
}

/// `TRUST_PROXY`: a yes/no flag (yes = one proxy) or a hop count, like express's `trust proxy`
/// number. `true` does NOT mean express's "trust every hop": the leftmost entry is whatever the
/// client wrote, so keying a rate limit on it lets any client pick its own bucket.
fn trust_proxy_hops(args: &ApiArgs, env: &Env<'_>) -> anyhow::Result<u32> {
    if let Some(n) = args.trust_proxy_hops {
        return Ok(n);
    }
    if args.trust_proxy {
        return Ok(1);
    }
    let Some((_, v)) = env.first(&["TRUST_PROXY"]) else {
        return Ok(0);
    };
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Ok(1),
        "false" | "no" | "off" | "" => Ok(0),
        n => n.parse().map_err(|_| {
            anyhow::anyhow!(
                "TRUST_PROXY={v:?} is not valid: use true (one proxy), false, or the number of proxies in front of the API"
            )
        }),
    }
}

fn parse_cors(list: Option<String>, env: &Env<'_>) -> Cors {
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .map(|o| o.trim().trim_end_matches('/').to_string())
            .filter(|o| !o.is_empty())
            .collect()
    };
    if let Some(list) = list {
        let origins = split(&list);
        if origins.iter().any(|o| o == "*") {
            return Cors::AnyOrigin;
        }
        return Cors::Origins(origins);
    }
    let from_urls: Vec<String> = [
        "DASHBOARD_GATEWAY_URL",
        "DASHBOARD_URL",
        "DOCUMENTATION_HUB_URL",
        "DOCUMENTATION_API_URL",
    ]
    .iter()
    .filter_map(|n| env.first(&[n]).map(|(_, v)| v))
    .flat_map(|v| split(&v))
    .collect();
    if !from_urls.is_empty() {
        return Cors::Origins(from_urls);
    }
    let host = env
        .first(&["PORT_GOVERNANCE_DEFAULT_HOST"])
        .map_or_else(|| "localhost".to_string(), |(_, v)| v);
    Cors::Origins(
        // 3900: the workspace app's dev server, whose proxy keeps the page's Origin.
        [9080, 3400, 3401, 3900]
            .iter()
            .map(|p| format!("http://{host}:{p}"))
            .collect(),
    )
}

/// The database target: `--database-url`, else `DATABASE_URL`, else the variable set of the
/// configured strategy (`LIBRARY_DB_STRATEGY=neon` reads `NEON_*`, anything else `POSTGRES_*`).
pub fn database_settings(args: &ApiArgs, env: &Env<'_>) -> anyhow::Result<DatabaseSettings> {
    let neon = env
        .first(&["LIBRARY_DB_STRATEGY"])
        .is_some_and(|(_, v)| v.eq_ignore_ascii_case("neon"));
    let prefix = if neon { "NEON" } else { "POSTGRES" };
    let var = |suffix: &str| format!("{prefix}_{suffix}");
    let url = args.database_url.clone().or_else(|| {
        let mut names = vec!["DATABASE_URL".to_string()];
        if neon {
            names.extend(["NEON_DATABASE_URL".into(), "NEON_CONNECTION_STRING".into()]);
        } else {
            names.push("POSTGRES_DATABASE_URL".into());
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        env.first(&refs).map(|(_, v)| v)
    });
    let config = match url {
        Some(url) => tokio_postgres::Config::from_str(&url)
            .context("the database URL is not a valid PostgreSQL connection string")?,
        None => {
            let mut c = tokio_postgres::Config::new();
            c.host(
                env.first(&[&var("HOST")])
                    .map_or("localhost".into(), |(_, v)| v),
            );
            c.port(
                env.parse(&[&var("PORT")])?
                    .unwrap_or(if neon { 5433 } else { 5432 }),
            );
            c.dbname(
                env.first(&[&var("DATABASE")])
                    .map_or("workspace".into(), |(_, v)| v),
            );
            c.user(
                env.first(&[&var("USER")])
                    .map_or("postgres".into(), |(_, v)| v),
            );
            if let Some((_, password)) = env.first(&[&var("PASSWORD")]) {
                c.password(password);
            }
            c
        }
    };
    let ms = |names: &[&str], default: u64| -> anyhow::Result<Duration> {
        Ok(Duration::from_millis(env.parse(names)?.unwrap_or(default)))
    };
    Ok(DatabaseSettings {
        config,
        pool_max: match args.pool_max {
            Some(n) => n,
            None => env.parse(&[&var("POOL_MAX")])?.unwrap_or(16),
        }
        .max(1),
        connect_timeout: ms(&[&var("CONNECTION_TIMEOUT")], 5_000)?,
        wait_timeout: Duration::from_secs(5),
        statement_timeout: match args.statement_timeout_ms {
            Some(v) => Duration::from_millis(v),
            None => ms(&[&var("STATEMENT_TIMEOUT"), &var("QUERY_TIMEOUT")], 30_000)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)], args: ApiArgs) -> anyhow::Result<ApiSettings> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |k: &str| map.get(k).cloned();
        ApiSettings::load(&args, &Env(&lookup))
    }

    #[test]
    fn defaults_are_loopback_and_original_port() {
        let s = load(&[], ApiArgs::default()).unwrap();
        assert_eq!((s.host.to_string(), s.port), ("127.0.0.1".into(), 3200));
        assert_eq!((s.rate_limit.max, s.rate_limit.window.as_secs()), (120, 60));
        assert!(
            s.database.config.get_password().is_none(),
            "no default password"
        );
        assert!(matches!(s.cors, Cors::Origins(ref o) if o.len() == 4));
        assert_eq!(s.rate_limit.trust_proxy_hops, 0);
        assert_eq!(s.body_read_timeout, Duration::from_secs(10));
    }

    #[test]
    fn env_names_of_the_original_are_honoured_and_flags_win() {
        let vars = [
            ("PORT", "4000"),
            ("CORS_ORIGIN", "http://a:1, http://b:2/"),
            ("RATE_LIMIT_MAX", "5"),
            ("POSTGRES_HOST", "db"),
            ("POSTGRES_PASSWORD", "pw"),
            ("POSTGRES_STATEMENT_TIMEOUT", "1500"),
        ];
        let s = load(&vars, ApiArgs::default()).unwrap();
        assert_eq!(s.port, 4000);
        assert!(matches!(s.cors, Cors::Origins(ref o) if o == &["http://a:1", "http://b:2"]));
        assert_eq!(s.rate_limit.max, 5);
        assert_eq!(s.database.statement_timeout, Duration::from_millis(1500));
        assert_eq!(s.database.describe(), "db:5432/workspace as postgres");
        let s = load(
            &vars,
            ApiArgs {
                port: Some(5000),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.port, 5000);
    }

    #[test]
    fn neon_strategy_reads_neon_names() {
        let s = load(
            &[("LIBRARY_DB_STRATEGY", "neon"), ("NEON_HOST", "compute")],
            ApiArgs::default(),
        )
        .unwrap();
        assert_eq!(s.database.describe(), "compute:5433/workspace as postgres");
        let s = load(
            &[("DATABASE_URL", "postgres://u@h:7/d")],
            ApiArgs::default(),
        )
        .unwrap();
        assert_eq!(s.database.describe(), "h:7/d as u");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = load(&[("WORKSPACE_PORT", "http")], ApiArgs::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("WORKSPACE_PORT"), "{err}");
        assert!(matches!(
            load(&[("CORS_ORIGIN", "*")], ApiArgs::default())
                .unwrap()
                .cors,
            Cors::AnyOrigin
        ));
        let err = load(&[("TRUST_PROXY", "maybe")], ApiArgs::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("TRUST_PROXY"), "{err}");
    }

    #[test]
    fn trust_proxy_is_a_flag_or_a_hop_count() {
        let hops = |v: &str| {
            load(&[("TRUST_PROXY", v)], ApiArgs::default())
                .unwrap()
                .rate_limit
                .trust_proxy_hops
        };
        assert_eq!(
            (hops("true"), hops("1"), hops("2"), hops("false")),
            (1, 1, 2, 0)
        );
    }

    #[test]
    fn writes_are_trusted_from_the_cors_list_even_with_cors_disabled() {
        let s = load(
            &[
                ("CORS_ORIGIN", "http://a:1"),
                ("DISABLE_CORS", "true"),
                ("ALLOWED_HOSTS", "ws.example.com, .corp.example"),
            ],
            ApiArgs::default(),
        )
        .unwrap();
        assert!(matches!(s.cors, Cors::Disabled));
        assert_eq!(s.trusted_origins, ["http://a:1"]);
        assert_eq!(s.allowed_hosts, ["ws.example.com", ".corp.example"]);
    }
}
