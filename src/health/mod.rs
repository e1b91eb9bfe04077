//! The health suite behind `wsctl test` and the last step of `wsctl up`: real checks, each of
//! which can fail, each with a name, a status, a detail and a duration. Rendering is separate
//! from running.

use std::future::Future;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::db::migrations::{self, SchemaState};
use crate::stack::connection::pg_config;
use crate::stack::process;
use crate::stack::state::{write_atomic, Lock, Phase, StackState, StateDir, Status};

/// The budget for one create/read/update/delete round trip through the API: `WSCTL_CRUD_BUDGET_MS`,
/// default 1 s (a healthy local stack takes ~10 ms; the margin keeps a busy machine from failing
/// the suite while still catching a stack that is really stuck).
pub fn crud_budget() -> Duration {
    Duration::from_millis(
        std::env::var("WSCTL_CRUD_BUDGET_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub status: Outcome,
    pub detail: String,
    pub duration_ms: f64,
}

pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.status == Outcome::Pass)
    }

    pub fn to_json(&self) -> serde_json::Value {
        let failed = self
            .checks
            .iter()
            .filter(|c| c.status == Outcome::Fail)
            .count();
        json!({
            "passed": self.passed(),
            "total": self.checks.len(),
            "failed": failed,
            "checks": self.checks,
        })
    }

    pub fn to_table(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(10);
        // "PASS  name": the result column is four wide, as scripts grep for it.
        let mut out = format!("OK?   {:width$}  {:>11}  DETAIL\n", "CHECK", "TIME");
        for c in &self.checks {
            let mark = match c.status {
                Outcome::Pass => "PASS",
                Outcome::Fail => "FAIL",
            };
            out.push_str(&format!(
                "{mark}  {:width$}  {:>8.1} ms  {}\n",
                c.name, c.duration_ms, c.detail
            ));
        }
        let failed = self
            .checks
            .iter()
            .filter(|c| c.status == Outcome::Fail)
            .count();
        out.push_str(&format!(
            "{} passed, {failed} failed\n",
            self.checks.len() - failed
        ));
        out
    }
}

struct Suite {
    checks: Vec<Check>,
}

impl Suite {
    async fn check<F, Fut>(&mut self, name: &str, f: F)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<String>>,
    {
        let started = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(10), f()).await;
        let (status, detail) = match result {
            Ok(Ok(detail)) => (Outcome::Pass, detail),
            Ok(Err(e)) => (Outcome::Fail, format!("{e:#}")),
            Err(_) => (Outcome::Fail, "timed out after 10 s".into()),
        };
        self.checks.push(Check {
            name: name.to_string(),
            status,
            detail,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        });
    }
}

fn ensure(cond: bool, msg: impl Into<String>) -> anyhow::Result<()> {
    if cond {
        Ok(())
    } else {
        Err(anyhow::anyhow!(msg.into()))
    }
}

/// What the checks read: the stack, its status.json, the connection settings and the API.
struct Ctx<'a> {
    dir: &'a StateDir,
    state: &'a StackState,
    status: Option<Status>,
    admin: anyhow::Result<tokio_postgres::Config>,
    workspace: anyhow::Result<tokio_postgres::Config>,
    api: String,
    http: reqwest::Result<reqwest::Client>,
}

impl Ctx<'_> {
    fn status(&self) -> anyhow::Result<&Status> {
        self.status
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("status.json is missing"))
    }

    async fn admin(&self) -> anyhow::Result<tokio_postgres::Client> {
        let config = self.admin.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
        crate::db::connect(&config.clone()).await
    }

    async fn workspace(&self) -> anyhow::Result<tokio_postgres::Client> {
        let config = self
            .workspace
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        crate::db::connect(&config.clone()).await
    }

    fn http(&self) -> anyhow::Result<&reqwest::Client> {
        self.http.as_ref().map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// The services whose process must be alive (native stacks).
fn services(state: &StackState) -> Vec<String> {
    match &state.neon {
        None => vec!["postgres".into(), "workspace-api".into()],
        Some(n) => ["storage_broker".to_string()]
            .into_iter()
            .chain((1..=n.safekeepers).map(|k| format!("safekeeper-{k}")))
            .chain([
                "pageserver".into(),
                "compute".into(),
                "workspace-api".into(),
            ])
            .collect(),
    }
}

/// Runs every check against the stack in `dir`, in this order.
pub async fn run(dir: &StateDir, state: &StackState) -> Report {
    let cx = Ctx {
        dir,
        state,
        status: dir.load_status(),
        admin: pg_config(dir, state, "postgres"),
        workspace: pg_config(dir, state, &state.database),
        api: format!("http://127.0.0.1:{}", state.api_port),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build(),
    };
    let mut s = Suite { checks: Vec::new() };
    s.check("supervisor running", || supervisor_running(&cx))
        .await;
    if state.containers.is_some() {
        // The engine owns the processes (and restarts them); their pids may be in another
        // pid namespace. What matters is that each container runs and passes its healthcheck.
        s.check("containers running and healthy", || async {
            crate::stack::containers::health(state)
        })
        .await;
    } else {
        for service in services(state) {
            let name = format!("process alive: {service}");
            s.check(&name, || process_alive(&cx, &service)).await;
        }
    }
    if let Some(neon) = &state.neon {
        neon_checks(&mut s, neon).await;
    }
    s.check("database reachable", || database_reachable(&cx))
        .await;
    s.check("database version", || database_version(&cx)).await;
    s.check("database exists", || database_exists(&cx)).await;
    s.check("schema and tables present", || schema_and_tables(&cx))
        .await;
    s.check("schema at latest migration", || schema_latest(&cx))
        .await;
    // Items need an active category; after an import the set need not be the seeded six.
    let mut category = None;
    s.check("active categories present", || {
        active_categories(&cx, &mut category)
    })
    .await;
    let category = category.unwrap_or_else(|| "documentacao".into());
    s.check("write/read/delete in a transaction", || {
        write_read_delete(&cx, &category)
    })
    .await;
    s.check("API /health healthy", || api_health(&cx)).await;
    s.check("API /ready (accepts the schema)", || api_ready(&cx))
        .await;
    let mut crud = None;
    s.check("API item create/read/update/delete", || {
        api_crud(&cx, &category, &mut crud)
    })
    .await;
    s.check("API round trip within budget", || within_budget(crud))
        .await;
    if let Some(neon) = &state.neon {
        s.check("compute on the stack's tenant and timeline", || {
            compute_timeline(&cx, neon)
        })
        .await;
    }
    let report = Report { checks: s.checks };
    save(dir, &report);
    report
}

/// The last run, whoever ran it (`up`, `wsctl test`, a rollback, the console).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastRun {
    pub at: chrono::DateTime<chrono::Utc>,
    pub checks: Vec<Check>,
}

/// Keeps the report as `health.json` in the state directory, for the console; a stack whose
/// directory cannot take it still gets its report.
fn save(dir: &StateDir, report: &Report) {
    let last = LastRun {
        at: chrono::Utc::now(),
        checks: report.checks.clone(),
    };
    if let Ok(bytes) = serde_json::to_vec_pretty(&last) {
        if let Err(e) = write_atomic(&dir.health_file(), &bytes, 0o644) {
            tracing::debug!(error = %e, "could not keep the health report");
        }
    }
}

/// The report `run` kept last, if any.
pub fn last(dir: &StateDir) -> Option<LastRun> {
    std::fs::read(dir.health_file())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

async fn supervisor_running(cx: &Ctx<'_>) -> anyhow::Result<String> {
    ensure(
        Lock::is_held(&cx.dir.lock_file())?,
        "no supervisor holds the state directory — run `wsctl up`",
    )?;
    let st = cx.status()?;
    ensure(st.phase == Phase::Ready, format!("phase is {:?}", st.phase))?;
    Ok(format!("pid {}", st.supervisor_pid))
}

async fn process_alive(cx: &Ctx<'_>, service: &str) -> anyhow::Result<String> {
    let st = cx.status()?;
    let svc = st
        .services
        .iter()
        .find(|x| x.name == service)
        .ok_or_else(|| anyhow::anyhow!("{service} is not managed"))?;
    let pid = svc
        .pid
        .ok_or_else(|| anyhow::anyhow!("{service} is not running (restarting?)"))?;
    ensure(
        process::alive(pid),
        format!("pid {pid} is gone — see {}", svc.log.display()),
    )?;
    Ok(format!("pid {pid}, {} restarts", svc.restarts))
}

async fn database_reachable(cx: &Ctx<'_>) -> anyhow::Result<String> {
    let client = cx.admin().await?;
    client.query_one("SELECT 1", &[]).await?;
    Ok(format!("127.0.0.1:{}", cx.state.pg_port))
}

async fn database_version(cx: &Ctx<'_>) -> anyhow::Result<String> {
    let client = cx.admin().await?;
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int, current_setting('server_version')",
            &[],
        )
        .await?;
    let num: i32 = row.get(0);
    ensure(
        num >= 150000,
        format!("PostgreSQL {} is older than 15", row.get::<_, String>(1)),
    )?;
    Ok(format!("PostgreSQL {}", row.get::<_, String>(1)))
}

async fn database_exists(cx: &Ctx<'_>) -> anyhow::Result<String> {
    let client = cx.admin().await?;
    let database = &cx.state.database;
    let found = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[database])
        .await?
        .is_some();
    ensure(
        found,
        format!("database {database} is missing — run `wsctl init`"),
    )?;
    Ok(database.clone())
}

async fn schema_and_tables(cx: &Ctx<'_>) -> anyhow::Result<String> {
    let client = cx.workspace().await?;
    let tables = crate::db::workspace_tables(&client).await?;
    for t in ["workspace_categories", "workspace_items"] {
        ensure(
            tables.iter().any(|x| x == t),
            format!("workspace.{t} is missing — run `wsctl init`"),
        )?;
    }
    Ok(tables.join(", "))
}

async fn schema_latest(cx: &Ctx<'_>) -> anyhow::Result<String> {
    let client = cx.workspace().await?;
    match migrations::state(&client).await? {
        SchemaState::Current => Ok(format!("migration {}", migrations::latest_version())),
        SchemaState::Behind { applied, latest } => Err(anyhow::anyhow!(
            "at migration {applied} of {latest} — run `wsctl init`"
        )),
        SchemaState::Ahead { applied, latest } => Err(anyhow::anyhow!(
            "at migration {applied}, newer than this wsctl ({latest})"
        )),
    }
}

/// Also finds the category the writes below use.
async fn active_categories(
    cx: &Ctx<'_>,
    first_active: &mut Option<String>,
) -> anyhow::Result<String> {
    let client = cx.workspace().await?;
    let rows = client
        .query(
            "SELECT name::text, is_active IS NOT FALSE FROM workspace.workspace_categories
              ORDER BY sort_order NULLS LAST, name",
            &[],
        )
        .await?;
    let active: Vec<String> = rows.iter().filter(|r| r.get(1)).map(|r| r.get(0)).collect();
    ensure(
        !active.is_empty(),
        format!(
            "{} categories, none active: no item can be created",
            rows.len()
        ),
    )?;
    *first_active = active.first().cloned();
    Ok(format!(
        "{} categories, {} active",
        rows.len(),
        active.len()
    ))
}

async fn write_read_delete(cx: &Ctx<'_>, category: &str) -> anyhow::Result<String> {
    let mut client = cx.workspace().await?;
    let tx = client.transaction().await?;
    let id: i32 = tx
        .query_one(
            // An id below every other, not one from the sequence: a rolled-back insert would
            // still use one up.
            "INSERT INTO workspace.workspace_items (id, title, description, category, priority, status)
             SELECT coalesce(min(id), 0) - 1, 'health check', 'wsctl test', $1, 'low', 'new'
               FROM workspace.workspace_items RETURNING id",
            &[&category],
        )
        .await?
        .get(0);
    let title: String = tx
        .query_one(
            "SELECT title FROM workspace.workspace_items WHERE id = $1",
            &[&id],
        )
        .await?
        .get(0);
    ensure(title == "health check", "read back a different row")?;
    let deleted = tx
        .execute(
            "DELETE FROM workspace.workspace_items WHERE id = $1",
            &[&id],
        )
        .await?;
    ensure(deleted == 1, "delete did not find the row")?;
    tx.rollback().await?;
    Ok(format!("item {id}, rolled back"))
}

async fn api_health(cx: &Ctx<'_>) -> anyhow::Result<String> {
    let api = &cx.api;
    let r = cx.http()?.get(format!("{api}/health")).send().await?;
    let code = r.status();
    let body: serde_json::Value = r.json().await?;
    ensure(
        code.is_success() && body["checks"]["database"]["status"] == "healthy",
        format!("{code}: {body}"),
    )?;
    Ok(format!("{api}/health"))
}

/// The API refuses a schema it does not know (`/ready` 503): an API started before the
/// binary was rebuilt, or one older than the wsctl that migrated.
async fn api_ready(cx: &Ctx<'_>) -> anyhow::Result<String> {
    let api = &cx.api;
    let r = cx.http()?.get(format!("{api}/ready")).send().await?;
    let code = r.status();
    let body: serde_json::Value = r.json().await?;
    if code.is_success() {
        return Ok(format!("{api}/ready"));
    }
    let schema = body["checks"]["schema"]["message"].as_str().unwrap_or("");
    let database = body["checks"]["database"]["message"].as_str().unwrap_or("");
    if schema.contains(migrations::NEWER_THAN_API) {
        anyhow::bail!(
            "{code}: the API refuses the schema ({schema}): it runs an older build — \
             `wsctl down && wsctl up` restarts it from the installed binary (install the \
             workspace-api built with this wsctl first)"
        );
    }
    anyhow::bail!(
        "{code}: {}",
        [schema, database]
            .join("; ")
            .trim_matches(|c| c == ';' || c == ' ')
    )
}

/// Also measures the round trip, which the budget check judges. Leaves no trace: the
/// requests carry a health-check correlation id, and the id the item took from the items'
/// sequence is given back (see `give_back_id`), so the user's first item is still 1.
async fn api_crud(
    cx: &Ctx<'_>,
    category: &str,
    took: &mut Option<Duration>,
) -> anyhow::Result<String> {
    use crate::api::metrics::{CORRELATION_HEADER, HEALTH_CHECK_PREFIX};
    let (http, api) = (cx.http()?, &cx.api);
    let marked = format!("{HEALTH_CHECK_PREFIX}{}", std::process::id());
    let send = |r: reqwest::RequestBuilder| r.header(CORRELATION_HEADER, &marked).send();
    let items = format!("{api}/api/items");
    let started = Instant::now();
    let created: serde_json::Value = send(http.post(&items).json(&json!({"title": "wsctl health check", "description": "created by wsctl test", "category": category, "priority": "low"})))
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = created["data"]["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no id in {created}"))?
        .to_string();
    let item = format!("{items}/{id}");
    let read: serde_json::Value = send(http.get(&item))
        .await?
        .error_for_status()?
        .json()
        .await?;
    ensure(
        read["data"]["title"] == "wsctl health check",
        format!("read back {read}"),
    )?;
    let updated: serde_json::Value = send(http.put(&item).json(&json!({"status": "completed"})))
        .await?
        .error_for_status()?
        .json()
        .await?;
    ensure(
        updated["data"]["status"] == "completed",
        format!("update gave {updated}"),
    )?;
    send(http.delete(&item)).await?.error_for_status()?;
    let gone = send(http.get(&item)).await?.status();
    ensure(
        gone == reqwest::StatusCode::NOT_FOUND,
        format!("after delete: {gone}"),
    )?;
    *took = Some(started.elapsed());
    if let Ok(n) = id.parse::<i64>() {
        give_back_id(cx, n).await?;
    }
    Ok(format!("item {id}, id given back"))
}

/// Winds the items' id sequence back over the id the round trip took, unless someone took a
/// later one meanwhile (their item keeps its id; the gap stays). Under a lock that waits for
/// inserts in flight and holds off new ones, "the sequence's last value is ours" means
/// nobody else drew from it since.
async fn give_back_id(cx: &Ctx<'_>, id: i64) -> anyhow::Result<()> {
    let mut client = cx.workspace().await?;
    let tx = client.transaction().await?;
    tx.batch_execute("LOCK TABLE workspace.workspace_items IN EXCLUSIVE MODE")
        .await?;
    tx.execute(
        "SELECT setval(s, greatest($1::bigint - 1, 1), $1::bigint > 1)
           FROM (SELECT pg_get_serial_sequence('workspace.workspace_items', 'id')::regclass AS s) q
          WHERE s IS NOT NULL AND pg_sequence_last_value(s) = $1::bigint",
        &[&id],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn within_budget(took: Option<Duration>) -> anyhow::Result<String> {
    let took = took.ok_or_else(|| anyhow::anyhow!("the round trip did not complete"))?;
    let budget = crud_budget();
    ensure(
        took <= budget,
        format!(
            "{:.1} ms, budget {} ms",
            took.as_secs_f64() * 1000.0,
            budget.as_millis()
        ),
    )?;
    Ok(format!(
        "{:.1} ms of {} ms",
        took.as_secs_f64() * 1000.0,
        budget.as_millis()
    ))
}

async fn compute_timeline(
    cx: &Ctx<'_>,
    neon: &crate::stack::neon::NeonState,
) -> anyhow::Result<String> {
    let client = cx.workspace().await?;
    let row = client
        .query_one(
            "SELECT current_setting('neon.tenant_id'), current_setting('neon.timeline_id')",
            &[],
        )
        .await?;
    let (tenant, timeline): (String, String) = (row.get(0), row.get(1));
    ensure(
        tenant == neon.tenant_id && timeline == neon.timeline_id,
        format!(
            "compute runs {tenant}/{timeline}, expected {}/{}",
            neon.tenant_id, neon.timeline_id
        ),
    )?;
    Ok(format!("{tenant}/{timeline}"))
}

async fn neon_checks(s: &mut Suite, neon: &crate::stack::neon::NeonState) {
    use crate::stack::neon::http_ok;
    let broker = format!("http://127.0.0.1:{}/status", neon.broker_port);
    s.check("storage_broker /status", || async {
        ensure(
            http_ok(&broker, None).await,
            format!("{broker} did not answer 200"),
        )?;
        Ok(broker.clone())
    })
    .await;
    for n in 1..=neon.safekeepers {
        let url = format!(
            "http://127.0.0.1:{}/v1/status",
            neon.safekeeper_http_port + u16::from(n) - 1
        );
        s.check(&format!("safekeeper-{n} /v1/status"), || async {
            ensure(
                http_ok(&url, Some(u64::from(n))).await,
                format!("{url} did not answer {{\"id\":{n}}}"),
            )?;
            Ok(url.clone())
        })
        .await;
    }
    let ps = format!("http://127.0.0.1:{}/v1/status", neon.pageserver_http_port);
    s.check("pageserver /v1/status", || async {
        ensure(
            http_ok(&ps, Some(1)).await,
            format!("{ps} did not answer {{\"id\":1}}"),
        )?;
        Ok(ps.clone())
    })
    .await;
}
