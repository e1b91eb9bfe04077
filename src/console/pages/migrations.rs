//! Migrations: applied and pending, with checksums, and `migrate --check` as a button.

use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;

use super::super::{view, Console};
use crate::db::migrations::{self, MigrationStatus};
use crate::stack::connection::pg_config;

async fn status(console: &Console) -> anyhow::Result<Vec<MigrationStatus>> {
    let state = crate::engine::require_state(&console.dir)?;
    let client = crate::db::connect(&pg_config(&console.dir, &state, &state.database)?).await?;
    migrations::status(&client).await
}

pub async fn page(req: HttpRequest, console: web::Data<Console>) -> HttpResponse {
    let body = match status(&console).await {
        Ok(list) => html! {
            h1 { "Migrations" }
            table #migrations {
                thead { tr { th.num { "version" } th { "name" } th { "checksum (SHA-256)" } th { "state" } } }
                tbody {
                    @for m in &list {
                        tr class=(if m.applied_at.is_some() { "applied" } else { "pending" }) {
                            td.num { (m.version) }
                            td { (m.name) }
                            td { code { (m.checksum) } }
                            td { (m.applied_at.as_ref().map_or("pending".into(), |t| format!("applied {}", view::time(t)))) }
                        }
                    }
                }
            }
            form method="post" action="/actions/migrate-check" {
                (view::csrf_field(&req))
                button #migrate-check type="submit" { "migrate --check" }
                span.hint { " applies the pending migrations to a throwaway copy of main; main is not touched" }
            }
        },
        Err(e) => html! { h1 { "Migrations" } p.error { (format!("{e:#}")) } },
    };
    view::page(&req, "Migrations", body)
}
