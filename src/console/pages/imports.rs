//! Imports: each report `wsctl import` saved in the state directory, rendered as it is
//! (layout, per-table counts and checksums, rejected rows, backup, timings).

use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::Value;

use super::super::{view, Console};

/// Newest first; unreadable files are named, not fatal.
fn reports(console: &Console) -> Vec<(String, Result<Value, String>)> {
    let Ok(entries) = std::fs::read_dir(console.dir.root.join("imports")) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files.reverse();
    files
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let parsed = std::fs::read(&p)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()));
            (name, parsed)
        })
        .collect()
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Any JSON as HTML: objects as definition lists, arrays of objects as tables.
fn render(v: &Value) -> Markup {
    match v {
        Value::Object(map) => html! {
            dl { @for (k, v) in map { dt { (k) } dd { (render(v)) } } }
        },
        Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => {
            let mut keys: Vec<&String> = Vec::new();
            for item in items.iter().filter_map(Value::as_object) {
                for k in item.keys() {
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
            }
            html! {
                table {
                    thead { tr { @for k in &keys { th { (k) } } } }
                    tbody { @for item in items { tr { @for k in &keys { td { (render(&item[k.as_str()])) } } } } }
                }
            }
        }
        Value::Array(items) if items.iter().all(Value::is_array) && !items.is_empty() => html! {
            // Pairs such as the phases' (name, seconds).
            table { tbody { @for row in items.iter().filter_map(Value::as_array) { tr { @for c in row { td { (scalar(c)) } } } } } }
        },
        Value::Array(items) => html! { (items.iter().map(scalar).collect::<Vec<_>>().join(", ")) },
        other => html! { (scalar(other)) },
    }
}

fn report(name: &str, v: &Value) -> Markup {
    let outcome = v.get("outcome").map(scalar).unwrap_or_default();
    let verified = v.get("verified").and_then(Value::as_bool).unwrap_or(false);
    html! {
        article.import {
            h2 { (name) }
            p {
                strong { (outcome) }
                " · " (if verified { "verified" } else { "not verified" })
                " · " (v.get("seconds").and_then(Value::as_f64).map_or(String::new(), |s| format!("{s:.2} s")))
            }
            (render(v))
        }
    }
}

pub async fn page(req: HttpRequest, console: web::Data<Console>) -> HttpResponse {
    let list = reports(&console);
    let body = html! {
        h1 { "Imports" }
        @if list.is_empty() { p { "No import reports yet. `wsctl import --from …` writes one per run." } }
        @for (name, parsed) in &list {
            @match parsed {
                Ok(v) => (report(name, v)),
                Err(e) => article.import { h2 { (name) } p.error { "unreadable: " (e) } },
            }
        }
    };
    view::page(&req, "Imports", body)
}
