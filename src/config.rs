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
    /// Take the client IP from X-Forwarded-For (only behind a proxy that sets it)
    /// [env: TRUST_PROXY]
    #[arg(long)]
    pub trust_proxy: bool,
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
    pub trust_proxy: bool,
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
        let cors = if env.flag("DISABLE_CORS") {
            Cors::Disabled
        } else {
            let list = args
                .cors_origin
                .clone()
                .or_else(|| env.first(&["CORS_ORIGIN"]).map(|(_, v)| v));
            parse_cors(list, env)
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
            trust_proxy: args.trust_proxy || env.flag("TRUST_PROXY"),
        };
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
        })
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
        [9080, 3400, 3401]
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
        assert!(matches!(s.cors, Cors::Origins(ref o) if o.len() == 3));
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
    }
}
