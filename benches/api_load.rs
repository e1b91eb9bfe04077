//! Load benchmark of the Workspace API: `cargo bench --bench api_load`.
//!
//! Starts its own PostgreSQL (durable settings, as in production), seeds 1,000 items, starts
//! the release `workspace-api`, and drives it with `wrk` (32 connections, 2 threads) through
//! four scenarios: list (limit=100), get by id, create, and a 60/30/10 mix of the three.
//! Prints requests/s and p50/p99 per scenario and writes `target/bench/api_load.json`.
//!
//! Options (environment):
//! - `BENCH_SECONDS` (default 10): duration of each scenario.
//! - `BENCH_WRK_THREADS` (default 2): wrk threads driving the 32 connections.
//! - `BENCH_ONLY`: run only the scenarios whose name contains this text.
//! - `BENCH_ITEMS` (default 1000): items seeded before the run.
//! - `BENCH_GIN_FASTUPDATE=on`: GIN indexes with their pending list, as before migration 3.
//! - `BENCH_ROUNDS` (default 1): rounds; each runs every scenario on every target in turn,
//!   so a compared pair is measured side by side under the same machine load. The report gives
//!   the median of the rounds per scenario and target, and the ratios.
//! - `BENCH_COMPARE_CMD` + `BENCH_COMPARE_DIR`: another implementation of the same API to run
//!   against the same database for a side-by-side number (for example the original Node
//!   service: `BENCH_COMPARE_CMD="node src/server.js"` in its directory). It gets the database
//!   through the original's `POSTGRES_*` variables and must listen on `$PORT`; `REDIS_PORT`
//!   is passed on (the original waits on Redis in every write, cache or not).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use workspace_stack::db;
use workspace_stack::stack::postgres::{self, PgBinaries, RunAs, ServerOptions};

const CONNECTIONS: u32 = 32;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        // SIGINT: a fast shutdown for PostgreSQL, a graceful one for the API.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    workspace_stack::stack::ports::free_port().expect("a free loopback port")
}

struct Scenario {
    name: &'static str,
    path: &'static str,
    script: &'static str,
}

const POST_BODY: &str = r#"{"title":"bench item","description":"created by the load benchmark","category":"dashboard","priority":"low","tags":["bench"]}"#;

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "GET /api/items?limit=100",
            path: "/api/items?limit=100",
            script: "",
        },
        Scenario {
            name: "GET /api/items/{id}",
            path: "/",
            script: r#"
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/api/items/" .. (n % ITEMS + 1))
end"#,
        },
        Scenario {
            name: "POST /api/items",
            path: "/api/items",
            script: r#"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = BODY"#,
        },
        Scenario {
            name: "GET /api/items?search=…",
            path: "/",
            script: r#"
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/api/items?limit=20&search=item%20" .. (n % 100))
end"#,
        },
        Scenario {
            name: "mix 60% get / 30% list / 10% create",
            path: "/",
            script: r#"
local n = 0
request = function()
  n = n + 1
  local r = n % 10
  if r < 6 then
    return wrk.format("GET", "/api/items/" .. (n % ITEMS + 1))
  elseif r < 9 then
    return wrk.format("GET", "/api/items?limit=100")
  else
    return wrk.format("POST", "/api/items", {["Content-Type"] = "application/json"}, BODY)
  end
end"#,
        },
    ]
}

/// wrk's own threads compete with the server for these machines' two cores.
fn wrk_threads() -> u32 {
    std::env::var("BENCH_WRK_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

/// wrk prints latencies like `1.23ms`, `850.00us`, `1.02s`.
fn parse_duration_ms(s: &str) -> Option<f64> {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => return None,
    })
}

fn run_wrk(base: &str, scenario: &Scenario, seconds: u64, dir: &Path) -> anyhow::Result<Value> {
    let script_path = dir.join(format!("{}.lua", scenario.name.len()));
    let items = std::env::var("BENCH_ITEMS").unwrap_or_else(|_| "1000".into());
    let script = scenario
        .script
        .replace("BODY", &format!("'{POST_BODY}'"))
        .replace("ITEMS", &items);
    std::fs::write(&script_path, script)?;
    let mut args = vec![
        format!("-t{}", wrk_threads()),
        format!("-c{CONNECTIONS}"),
        format!("-d{seconds}s"),
        "--latency".into(),
        // Generous, so that a slow implementation is measured as slow rather than as silent.
        "--timeout".into(),
        "30s".into(),
    ];
    if !scenario.script.is_empty() {
        args.push("-s".into());
        args.push(script_path.display().to_string());
    }
    args.push(format!("{base}{}", scenario.path));
    let out = duct::cmd("wrk", &args).stderr_to_stdout().read()?;
    let field = |prefix: &str| -> Option<String> {
        out.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
    };
    let rps: f64 = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let p50 = field("50%").and_then(|v| parse_duration_ms(&v));
    let p99 = field("99%").and_then(|v| parse_duration_ms(&v));
    // With nothing completed there are no numbers to parse: keep wrk's whole output instead.
    let errors = if rps == 0.0 {
        Some(out.trim())
    } else {
        out.lines()
            .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
            .map(str::trim)
    };
    Ok(json!({
        "scenario": scenario.name,
        "requests_per_second": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "errors": errors,
    }))
}

/// One HTTP/1.0 request; the status line's code, if any answer came.
fn http_once(base: &str, method: &str, path: &str, body: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).ok()?;
    reply.split_whitespace().nth(1)?.parse().ok()
}

fn wait_http(base: &str, path: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if http_once(base, "GET", path, "") == Some(200) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    anyhow::bail!("{base}{path} did not answer 200 within 60 s")
}

/// The API under test: this project's release binary, or the comparison command.
fn start_target(
    compare: Option<&(String, String)>,
    port: u16,
    url: &str,
    pg_port: u16,
    password: &str,
) -> anyhow::Result<Child> {
    Ok(match compare {
        None => Command::new(env!("CARGO_BIN_EXE_workspace-api"))
            .args([
                "serve",
                "--port",
                &port.to_string(),
                "--database-url",
                url,
                "--rate-limit-max",
                "0",
            ])
            .env("LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
        Some((cmd, cdir)) => {
            let log = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench/compare.log");
            std::fs::create_dir_all(log.parent().unwrap_or(Path::new(".")))?;
            Command::new("sh")
                .args(["-c", cmd])
                .current_dir(cdir)
                .env("PORT", port.to_string())
                .env("WORKSPACE_PORT", port.to_string())
                .env("LIBRARY_DB_STRATEGY", "postgresql")
                .env("POSTGRES_HOST", "127.0.0.1")
                .env("POSTGRES_PORT", pg_port.to_string())
                .env("POSTGRES_DATABASE", "workspace")
                .env("POSTGRES_USER", "postgres")
                .env("POSTGRES_PASSWORD", password)
                .env("POSTGRES_POOL_MAX", "16")
                .env("REDIS_CACHE_ENABLED", "false")
                .env("RATE_LIMIT_MAX", "100000000")
                .env("NODE_ENV", "production")
                .env("LOG_LEVEL", "warn")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(log)?)
                .spawn()?
        }
    })
}

/// Per scenario and target, the median of each number over the rounds.
fn medians(results: &[Value]) -> Vec<Value> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in results {
        let key = (
            r["scenario"].as_str().unwrap_or("").to_string(),
            r["target"].as_str().unwrap_or("").to_string(),
        );
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .map(|(scenario, target)| {
            let of = |field: &str| -> Option<f64> {
                let mut v: Vec<f64> = results
                    .iter()
                    .filter(|r| {
                        r["scenario"] == scenario.as_str() && r["target"] == target.as_str()
                    })
                    .filter_map(|r| r[field].as_f64())
                    .collect();
                v.sort_by(f64::total_cmp);
                v.get(v.len() / 2).copied()
            };
            json!({
                "scenario": scenario,
                "target": target,
                "requests_per_second": of("requests_per_second"),
                "p50_ms": of("p50_ms"),
                "p99_ms": of("p99_ms"),
            })
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo bench -- --list` and `cargo test --benches` probe this.
    }
    duct::cmd!("wrk", "--version")
        .stdout_null()
        .stderr_null()
        .unchecked()
        .run()
        .map_err(|_| {
            anyhow::anyhow!(
                "wrk is not installed — `apt-get install wrk` (it is in Debian and nixpkgs)"
            )
        })?;
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let items = env_num("BENCH_ITEMS", 1000);
    let rounds = env_num("BENCH_ROUNDS", 1).max(1);
    let pg = start_postgres()?;
    seed(&pg, items)?;
    let servers = start_targets(&pg)?;
    let results = run_rounds(&servers, rounds, seconds, pg.dir.path())?;
    drop(servers);
    write_report(&results, rounds, seconds, items)
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A PostgreSQL of our own in a temporary directory; stopped before the directory goes.
struct Postgres {
    _server: Killed,
    dir: tempfile::TempDir,
    url: String,
    port: u16,
    password: String,
}

/// A target under load: its label, its base URL and its process.
type Target = (String, String, Killed);

fn start_postgres() -> anyhow::Result<Postgres> {
    let bins = PgBinaries::discover(None)?;
    let run_as = RunAs::unprivileged()?;
    let dir = tempfile::Builder::new().prefix("ws-bench-").tempdir()?;
    if let Some(u) = run_as {
        u.chown(dir.path())?;
    }
    let data = dir.path().join("data");
    let password = postgres::generate_password();
    postgres::initdb(&bins, &data, "postgres", &password, run_as, false)?;
    let pg_port = free_port();
    let log = std::fs::File::create(dir.path().join("postgres.log"))?;
    let server = Killed(
        postgres::server_command(
            &bins,
            &data,
            &ServerOptions {
                port: pg_port,
                socket_dir: dir.path(),
                fast: false,
            },
            run_as,
        )
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?,
    );
    let url = format!("postgres://postgres:{password}@127.0.0.1:{pg_port}/workspace");
    Ok(Postgres {
        _server: server,
        dir,
        url,
        port: pg_port,
        password,
    })
}

/// The workspace database, migrated and seeded with `items` items.
fn seed(pg: &Postgres, items: u64) -> anyhow::Result<()> {
    let (url, pg_port, password) = (&pg.url, pg.port, &pg.password);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let mut admin = tokio_postgres::Config::new();
        admin.host("127.0.0.1").port(pg_port).user("postgres").password(password).dbname("postgres");
        postgres::wait_ready(&admin, Duration::from_secs(30)).await?;
        db::connect(&admin).await?.batch_execute("CREATE DATABASE workspace").await?;
        let mut client = db::connect(&url.parse()?).await?;
        db::migrations::migrate(&mut client).await?;
        client
            .execute(
                "INSERT INTO workspace.workspace_items (title, description, category, priority, status, tags, metadata)
                 SELECT 'Seeded item ' || g, 'Description of item ' || g,
                        (ARRAY['documentacao','coleta-dados','banco-dados','analise-dados','gestao-riscos','dashboard'])[1 + g % 6],
                        (ARRAY['low','medium','high','critical'])[1 + g % 4],
                        (ARRAY['new','review','in-progress','completed','rejected'])[1 + g % 5],
                        ARRAY['tag' || (g % 10)], jsonb_build_object('seq', g)
                   FROM generate_series(1, $1::int) g",
                &[&(items as i32)],
            )
            .await?;
        // `BENCH_GIN_FASTUPDATE=on` puts back GIN's pending list (what migration 3 removed),
        // to measure the write stalls it caused.
        if std::env::var("BENCH_GIN_FASTUPDATE").as_deref() == Ok("on") {
            client
                .batch_execute(
                    "DO $$ DECLARE i regclass; BEGIN
                       FOR i IN SELECT c.oid FROM pg_class c JOIN pg_am a ON a.oid = c.relam
                                 WHERE a.amname = 'gin' AND c.relnamespace = 'workspace'::regnamespace
                       LOOP EXECUTE format('ALTER INDEX %s SET (fastupdate = on)', i); END LOOP;
                     END $$",
                )
                .await?;
        }
        client.batch_execute("VACUUM ANALYZE workspace.workspace_items").await?;
        anyhow::Ok(())
    })
}

/// Every target, started, warmed up and left running for the whole benchmark, so rounds can
/// alternate between them.
fn start_targets(pg: &Postgres) -> anyhow::Result<Vec<Target>> {
    let (url, pg_port, password, dir) = (&pg.url, pg.port, &pg.password, &pg.dir);
    let mut targets = vec![("workspace-api (this project)".to_string(), None)];
    if let (Ok(cmd), Ok(cdir)) = (
        std::env::var("BENCH_COMPARE_CMD"),
        std::env::var("BENCH_COMPARE_DIR"),
    ) {
        targets.push((format!("compare: {cmd}"), Some((cmd, cdir))));
    }
    let mut servers = Vec::new();
    for (label, compare) in &targets {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let child = start_target(compare.as_ref(), port, url, pg_port, password)?;
        servers.push((label.clone(), base.clone(), Killed(child)));
        wait_http(&base, "/healthz")?;
        // One request at a time first: the original opens its pool lazily (concurrent first
        // requests each open one) and pays a slow first write; neither should be measured.
        wait_http(&base, "/health")?;
        http_once(&base, "POST", "/api/items", POST_BODY);
        // Warm up connections and caches.
        let warm = Scenario {
            name: "warm-up",
            path: "/api/items?limit=100",
            script: "",
        };
        run_wrk(&base, &warm, 2, dir.path())?;
    }
    Ok(servers)
}

/// Each scenario (filtered by `BENCH_ONLY`) on each target, `rounds` times.
fn run_rounds(
    servers: &[Target],
    rounds: u64,
    seconds: u64,
    dir: &Path,
) -> anyhow::Result<Vec<Value>> {
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let mut results = Vec::new();
    for round in 1..=rounds {
        for scenario in scenarios()
            .into_iter()
            .filter(|s| s.name.contains(only.as_str()))
        {
            for (label, base, _) in servers {
                let mut r = run_wrk(base, &scenario, seconds, dir)?;
                r["target"] = json!(label);
                r["round"] = json!(round);
                eprintln!(
                    "round {round} {label:32} {:40} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms {}",
                    scenario.name,
                    r["requests_per_second"].as_f64().unwrap_or(0.0),
                    r["p50_ms"].as_f64().unwrap_or(f64::NAN),
                    r["p99_ms"].as_f64().unwrap_or(f64::NAN),
                    r["errors"].as_str().unwrap_or("")
                );
                results.push(r);
            }
        }
    }
    Ok(results)
}

/// The medians on stderr; everything as JSON on stdout and in target/bench/api_load.json.
fn write_report(results: &[Value], rounds: u64, seconds: u64, items: u64) -> anyhow::Result<()> {
    let medians = medians(results);
    eprintln!("\nmedians of {rounds} round(s), {seconds} s each, {items} items seeded:");
    for m in &medians {
        eprintln!(
            "{:32} {:40} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
            m["target"].as_str().unwrap_or(""),
            m["scenario"].as_str().unwrap_or(""),
            m["requests_per_second"].as_f64().unwrap_or(0.0),
            m["p50_ms"].as_f64().unwrap_or(f64::NAN),
            m["p99_ms"].as_f64().unwrap_or(f64::NAN),
        );
    }
    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    let report = json!({
        "connections": CONNECTIONS,
        "seconds_per_scenario": seconds,
        "seeded_items": items,
        "rounds": rounds,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "medians": medians,
        "results": results,
    });
    std::fs::write(
        out_dir.join("api_load.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
