//! The buttons: each is a form POST (the guard checked cookie and Origin; the form carries
//! the CSRF token), runs one engine operation, one at a time, and answers with a page that
//! says what happened.

use actix_web::http::header::LOCATION;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::{auth, reply, view, Console};
use crate::branch::Name;
use crate::engine::branches::{self as engine, RollbackReport, Switched};

#[derive(Deserialize)]
pub struct Plain {
    csrf: String,
}

#[derive(Deserialize)]
pub struct Named {
    csrf: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
pub struct NewBranch {
    csrf: String,
    name: String,
    #[serde(default)]
    from: String,
    api: Option<String>,
}

#[derive(Deserialize)]
pub struct RollbackTo {
    csrf: String,
    to: String,
}

fn refused(req: &HttpRequest) -> HttpResponse {
    reply::error_page(
        req,
        StatusCode::FORBIDDEN,
        "Refused",
        "the form's CSRF token is not this session's — reload the page and try again",
    )
}

/// What an action did: a page with its message, or its error (409: the stack said no).
fn done(req: &HttpRequest, title: &str, result: anyhow::Result<Markup>) -> HttpResponse {
    match result {
        Ok(body) => view::page(req, title, html! { h1 { (title) } (body) }),
        Err(e) => {
            let mut r = view::page(
                req,
                title,
                html! { h1 { (title) } p.error #error { (format!("{e:#}")) } p { a href="/branches" { "Back to the branches" } } },
            );
            *r.status_mut() = StatusCode::CONFLICT;
            r
        }
    }
}

/// One action: the session's CSRF token checked, the stack's operations one at a time, the
/// live pages told afterwards (`changes`), and the outcome as a page.
async fn act(
    req: &HttpRequest,
    console: &Console,
    csrf: &str,
    title: &str,
    changes: bool,
    work: impl std::future::Future<Output = anyhow::Result<Markup>>,
) -> HttpResponse {
    if !auth::csrf_ok(req, csrf) {
        return refused(req);
    }
    let _op = console.ops.lock().await;
    let result = work.await;
    if changes {
        console.changed();
    }
    done(req, title, result)
}

fn back(to: &str, label: &str) -> Markup {
    html! { p { a.back href=(to) { (label) } } }
}

pub async fn health(
    req: HttpRequest,
    console: web::Data<Console>,
    f: web::Form<Plain>,
) -> HttpResponse {
    if !auth::csrf_ok(&req, &f.csrf) {
        return refused(&req);
    }
    let state = match crate::engine::require_state(&console.dir) {
        Ok(s) => s,
        Err(e) => return done(&req, "Health", Err(e)),
    };
    let _op = console.ops.lock().await;
    crate::health::run(&console.dir, &state).await;
    console.changed();
    HttpResponse::SeeOther()
        .insert_header((LOCATION, "/"))
        .finish()
}

pub async fn create_branch(
    req: HttpRequest,
    console: web::Data<Console>,
    f: web::Form<NewBranch>,
) -> HttpResponse {
    let work = async {
        let mut b = engine::open_for_change(&console.dir).await?;
        let from = if f.from.is_empty() {
            crate::branch::MAIN
        } else {
            &f.from
        };
        // As `wsctl branch create`: recorded in the branch's history.
        let opts = crate::engine::lifecycle::CreateOptions::default();
        let created = crate::engine::lifecycle::create_branch(
            &console.dir,
            &mut *b,
            f.name.trim(),
            from,
            None,
            opts,
        )
        .await?;
        let preview = match f.api.is_some() {
            true => Some(engine::add_preview(&console.dir, &mut *b, &created.name).await?),
            false => None,
        };
        Ok(html! {
            p #result { "Created branch " strong { (created.name) } " from " (from) (format!(" in {:.2} s.", created.took.as_secs_f64())) }
            @if let Some(t) = &created.timeline { p { "Timeline " code { (t.timeline_id) } " at LSN " code { (t.lsn) } "; its compute listens on 127.0.0.1:" (t.pg_port) "." } }
            @if let Some(p) = preview { p { "Preview API: " code { (format!("http://127.0.0.1:{}", p.port)) } } }
            (back("/branches", "Back to the branches"))
        })
    };
    act(&req, &console, &f.csrf, "Create a branch", true, work).await
}

pub async fn switch(
    req: HttpRequest,
    console: web::Data<Console>,
    f: web::Form<Named>,
) -> HttpResponse {
    let work = async {
        let mut b = engine::open_for_change(&console.dir).await?;
        let msg = match engine::switch(&console.dir, &mut *b, &f.name).await? {
            Switched::Already => format!("The API already serves branch {}.", f.name),
            Switched::Now => format!("The API now serves branch {}.", f.name),
        };
        Ok(html! { p #result { (msg) } (back("/branches", "Back to the branches")) })
    };
    act(&req, &console, &f.csrf, "Switch the API", true, work).await
}

pub async fn delete_branch(
    req: HttpRequest,
    console: web::Data<Console>,
    f: web::Form<Named>,
) -> HttpResponse {
    let work = async {
        let mut b = engine::open_for_change(&console.dir).await?;
        // As `wsctl branch delete` without --force: a protected branch stays, and the
        // deletion is in the branch's history.
        let timeline =
            crate::engine::lifecycle::delete_branch(&console.dir, &mut *b, &f.name, false).await?;
        Ok(html! {
            p #result { "Deleted branch " strong { (f.name) } @if let Some(t) = timeline { " (timeline " code { (t) } ")" } "." }
            (back("/branches", "Back to the branches"))
        })
    };
    act(&req, &console, &f.csrf, "Delete a branch", true, work).await
}

pub async fn snapshot(
    req: HttpRequest,
    console: web::Data<Console>,
    f: web::Form<Named>,
) -> HttpResponse {
    let work = async {
        let name = Some(f.name.trim())
            .filter(|n| !n.is_empty())
            .map(Name::parse)
            .transpose()?;
        let mut b = engine::open_for_change(&console.dir).await?;
        let snap = b.snapshot(name).await?;
        Ok(html! {
            p #result { "Snapshot " strong { (snap.meta.name) } " of main taken " (view::time(&snap.meta.created_at)) (format!(" in {:.2} s.", snap.took.as_secs_f64())) }
            (back("/branches", "Back to the branches"))
        })
    };
    act(&req, &console, &f.csrf, "Snapshot main", true, work).await
}

/// Per table: rows before and after, and whether the contents changed.
fn rollback_report(
    req: &HttpRequest,
    console: &Console,
    r: &RollbackReport,
    checks: &[crate::health::Check],
) -> Markup {
    let undo = &r.rollback.before;
    html! {
        p #result {
            "Main of " code { (console.dir.root.display()) } " now holds snapshot " strong { (r.rollback.restored.name) }
            " (taken " (view::time(&r.rollback.restored.created_at)) ")" (format!(", in {:.2} s. ", r.rollback.took.as_secs_f64()))
            "Main as it was is kept as snapshot " strong #undo-snapshot { (undo.name) } "."
        }
        table #rollback-report {
            thead { tr { th { "table" } th.num { "rows before" } th.num { "rows after" } th { "contents" } } }
            tbody {
                @for ((table, n0, h0), (_, n1, h1)) in r.before.iter().zip(r.after.iter()) {
                    tr data-table=(table) {
                        td { (table) } td.num.before { (n0) } td.num.after { (n1) }
                        td { (if h0 == h1 { "unchanged" } else { "changed" }) }
                    }
                }
            }
        }
        h2 { "Health after the rollback" }
        (view::checks(checks))
        form #undo method="post" action="/actions/rollback" {
            (view::csrf_field(req))
            input type="hidden" name="to" value=(undo.name);
            button #undo-submit type="submit" { "Undo: roll back to " (undo.name) }
        }
        (back("/branches", "Back to the branches"))
    }
}

pub async fn rollback(
    req: HttpRequest,
    console: web::Data<Console>,
    f: web::Form<RollbackTo>,
) -> HttpResponse {
    let work = async {
        let mut b = engine::open_for_change(&console.dir).await?;
        let r = engine::rollback(&mut *b, Some(f.to.clone())).await?;
        let report = crate::health::run(&console.dir, b.state()).await;
        Ok(rollback_report(&req, &console, &r, &report.checks))
    };
    act(&req, &console, &f.csrf, "Rollback", true, work).await
}

pub async fn migrate_check(
    req: HttpRequest,
    console: web::Data<Console>,
    f: web::Form<Plain>,
) -> HttpResponse {
    let work = async {
        let mut b = engine::open_for_change(&console.dir).await?;
        let c = b.migrate_check().await?;
        Ok(html! {
            p #result {
                "On a throwaway copy of main: applied " (format!("{:?}", c.applied)) "; schema current: "
                strong { (c.current) } "; main untouched."
            }
            table { thead { tr { th { "table" } th.num { "rows" } } } tbody { @for (t, n, _) in &c.counts { tr { td { (t) } td.num { (n) } } } } }
            (back("/migrations", "Back to the migrations"))
        })
    };
    act(&req, &console, &f.csrf, "migrate --check", false, work).await
}
