//! Branches and snapshots: the tree as a picture, and the actions on it.

use std::collections::BTreeSet;

use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::super::{view, Console};
use crate::backend::Branches;
use crate::branch::{Kind, Meta, MAIN};
use crate::stack::state::StackState;

/// One box in the picture: a branch or a snapshot, whichever backend it came from.
pub struct Node {
    pub name: String,
    pub kind: Kind,
    pub parent: String,
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    pub automatic: bool,
    pub reason: Option<String>,
    /// Neon: where on its parent's timeline it starts.
    pub lsn: Option<String>,
    pub preview: Option<u16>,
}

fn from_meta(m: Meta, state: &StackState) -> Node {
    let lsn = state.neon.as_ref().and_then(|n| {
        n.snapshots
            .iter()
            .find(|s| s.meta.name == m.name)
            .map(|s| s.lsn.clone())
    });
    Node {
        preview: state
            .previews
            .iter()
            .find(|p| p.branch == m.name)
            .map(|p| p.port),
        name: m.name,
        kind: m.kind,
        parent: m.parent,
        created_at: (m.created_at.timestamp() > 0).then_some(m.created_at),
        automatic: m.automatic,
        reason: m.reason,
        lsn,
    }
}

/// Main, its branches and its snapshots, as the engine lists them.
pub async fn nodes(console: &Console) -> anyhow::Result<(StackState, Vec<Node>)> {
    let mut b = crate::engine::branches::open_for_reading(&console.dir).await?;
    let branches = b.branches().await?;
    let snapshots = b.snapshots().await?;
    let state = b.state().clone();
    let mut out = Vec::new();
    match branches {
        Branches::Copies(metas) => out.extend(metas.into_iter().map(|m| from_meta(m, &state))),
        Branches::Timelines { branches, .. } => {
            out.push(Node {
                name: MAIN.into(),
                kind: Kind::Branch,
                parent: String::new(),
                created_at: None,
                automatic: false,
                reason: Some("the stack's timeline".into()),
                lsn: None,
                preview: None,
            });
            out.extend(branches.into_iter().map(|nb| {
                Node {
                    preview: state
                        .previews
                        .iter()
                        .find(|p| p.branch == nb.name)
                        .map(|p| p.port),
                    name: nb.name,
                    kind: Kind::Branch,
                    parent: nb.parent,
                    created_at: Some(nb.created_at),
                    automatic: false,
                    reason: None,
                    lsn: Some(nb.lsn),
                }
            }));
        }
    }
    out.extend(snapshots.into_iter().map(|m| from_meta(m, &state)));
    Ok((state, out))
}

/// Depth-first order from main: (node, depth). A node whose parent is unknown hangs at the top.
fn layout(nodes: &[Node]) -> Vec<(&Node, usize)> {
    fn visit<'a>(
        n: &'a Node,
        depth: usize,
        all: &'a [Node],
        seen: &mut BTreeSet<&'a str>,
        out: &mut Vec<(&'a Node, usize)>,
    ) {
        if !seen.insert(&n.name) {
            return;
        }
        out.push((n, depth));
        // Branches before snapshots, each oldest first.
        let mut children: Vec<&Node> = all.iter().filter(|c| c.parent == n.name).collect();
        children.sort_by_key(|c| (c.kind == Kind::Snapshot, c.created_at));
        for c in children {
            visit(c, depth + 1, all, seen, out);
        }
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let known: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    for root in nodes
        .iter()
        .filter(|n| n.parent.is_empty() || !known.contains(n.parent.as_str()))
    {
        visit(root, 0, nodes, &mut seen, &mut out);
    }
    out
}

fn caption(n: &Node) -> String {
    let mut parts = Vec::new();
    if let Some(t) = n.created_at {
        parts.push(t.format("%m-%d %H:%M:%S").to_string());
    }
    if n.kind == Kind::Snapshot {
        parts.push(if n.automatic { "automatic" } else { "manual" }.to_string());
    }
    if let Some(r) = &n.reason {
        parts.push(r.clone());
    }
    if let Some(l) = &n.lsn {
        parts.push(format!("LSN {l}"));
    }
    parts.join(" · ")
}

/// The tree as SVG: one row per node, indented by depth, an elbow from each parent.
pub fn picture(nodes: &[Node], active: &str) -> Markup {
    const ROW: f64 = 54.0;
    const INDENT: f64 = 36.0;
    let placed = layout(nodes);
    let height = placed.len() as f64 * ROW + 10.0;
    let width = 760.0;
    let row_of = |name: &str| placed.iter().position(|(n, _)| n.name == name);
    html! {
        svg #tree width=(width) height=(height) viewBox=(format!("0 0 {width} {height}")) role="img" aria-label="branches and snapshots" {
            @for (i, (n, depth)) in placed.iter().enumerate() {
                @let (x, y) = (10.0 + *depth as f64 * INDENT, 6.0 + i as f64 * ROW);
                @if let Some(p) = row_of(&n.parent) {
                    @let (px, py) = (10.0 + placed[p].1 as f64 * INDENT + 12.0, 6.0 + p as f64 * ROW + 40.0);
                    path class="edge" d=(format!("M{px},{py} V{:.1} H{x}", y + 20.0)) {}
                }
                g class=(format!("node {}{}", if n.kind == Kind::Snapshot { "snapshot" } else { "branch" }, if n.name == active { " active" } else { "" })) data-name=(n.name) {
                    rect x=(x) y=(y) width=(width - x - 10.0) height="40" rx="6" {}
                    text x=(x + 10.0) y=(y + 16.0) class="name" {
                        (n.name)
                        @if n.kind == Kind::Snapshot { " (snapshot)" }
                        @if n.name == active { " — the API serves this" }
                        @if let Some(port) = n.preview { (format!(" — preview http://127.0.0.1:{port}")) }
                    }
                    text x=(x + 10.0) y=(y + 32.0) class="caption" { (caption(n)) }
                }
            }
        }
    }
}

fn forms(req: &HttpRequest, nodes: &[Node]) -> Markup {
    let branches: Vec<&Node> = nodes.iter().filter(|n| n.kind == Kind::Branch).collect();
    html! {
        div.forms {
            form #create-branch method="post" action="/actions/branch" {
                (view::csrf_field(req))
                h3 { "Create a branch" }
                label { "name " input #branch-name name="name" required pattern="[a-z0-9][a-z0-9_-]*" placeholder="feature-x"; }
                label { "from " select #branch-from name="from" { @for b in &branches { option value=(b.name) { (b.name) } } } }
                label { input #branch-api type="checkbox" name="api" value="on"; " with a preview API" }
                button #create-branch-submit type="submit" { "Create" }
            }
            form #take-snapshot method="post" action="/actions/snapshot" {
                (view::csrf_field(req))
                h3 { "Snapshot main" }
                label { "name " input #snapshot-name name="name" placeholder="(generated)"; }
                button #take-snapshot-submit type="submit" { "Take snapshot" }
            }
        }
    }
}

fn branch_rows(req: &HttpRequest, nodes: &[Node], active: &str) -> Markup {
    html! {
        h2 { "Branches" }
        table #branches {
            thead { tr { th { "branch" } th { "from" } th { "created" } th { "preview API" } th { "actions" } } }
            tbody {
                @for n in nodes.iter().filter(|n| n.kind == Kind::Branch) {
                    tr data-branch=(n.name) {
                        td { (n.name) @if n.name == active { " (serving)" } }
                        td { (n.parent) }
                        td { (n.created_at.as_ref().map(view::time).unwrap_or_default()) }
                        td { @if let Some(p) = n.preview { code { (format!("http://127.0.0.1:{p}")) } } }
                        td.actions {
                            @if n.name != active {
                                form method="post" action="/actions/switch" { (view::csrf_field(req)) input type="hidden" name="name" value=(n.name); button.switch type="submit" { "Switch API here" } }
                            }
                            @if n.name != MAIN && n.name != active {
                                form method="post" action="/actions/delete" data-confirm=(format!("Delete branch {} and its data?", n.name)) { (view::csrf_field(req)) input type="hidden" name="name" value=(n.name); button.delete type="submit" { "Delete" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn snapshot_rows(req: &HttpRequest, console: &Console, nodes: &[Node]) -> Markup {
    let stack = console.dir.root.display().to_string();
    html! {
        h2 { "Snapshots of main" }
        table #snapshots {
            thead { tr { th { "snapshot" } th { "taken" } th { "kind" } th { "why" } th { "LSN" } th { "" } } }
            tbody {
                @for (i, n) in nodes.iter().filter(|n| n.kind == Kind::Snapshot && n.parent == MAIN).enumerate() {
                    @let when = n.created_at.as_ref().map(view::time).unwrap_or_default();
                    tr data-snapshot=(n.name) {
                        td { (n.name) }
                        td { (when) }
                        td { (if n.automatic { "automatic" } else { "manual" }) }
                        td { (n.reason.as_deref().unwrap_or("")) }
                        td { (n.lsn.as_deref().unwrap_or("")) }
                        td {
                            button.rollback type="button" data-dialog=(format!("rb-{i}")) { "Roll back…" }
                            dialog id=(format!("rb-{i}")) {
                                form method="post" action="/actions/rollback" {
                                    (view::csrf_field(req))
                                    input type="hidden" name="to" value=(n.name);
                                    h3 { "Roll back main?" }
                                    p.confirm-text {
                                        "Stack " code { (stack) } ", branch " strong { "main" }
                                        " goes back to snapshot " strong { (n.name) } ", taken " (when) "."
                                    }
                                    p { "Every table of main becomes as it was then. Main as it is now is kept as a new snapshot, so this can be undone." }
                                    div.buttons {
                                        button.cancel type="button" data-close { "Cancel" }
                                        button.confirm type="submit" { "Roll back main" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub async fn page(req: HttpRequest, console: web::Data<Console>) -> HttpResponse {
    let body = match nodes(&console).await {
        Ok((state, nodes)) => {
            let active = state.active_branch.as_deref().unwrap_or(MAIN);
            html! {
                h1 { "Branches" }
                (picture(&nodes, active))
                (forms(&req, &nodes))
                (branch_rows(&req, &nodes, active))
                (snapshot_rows(&req, &console, &nodes))
            }
        }
        Err(e) => html! { h1 { "Branches" } p.error { (format!("{e:#}")) } },
    };
    view::page(&req, "Branches", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, kind: Kind, parent: &str, lsn: Option<&str>) -> Node {
        Node {
            name: name.into(),
            kind,
            parent: parent.into(),
            created_at: Some(chrono::Utc::now()),
            automatic: kind == Kind::Snapshot,
            reason: (kind == Kind::Snapshot).then(|| "before rollback".into()),
            lsn: lsn.map(String::from),
            preview: None,
        }
    }

    #[test]
    fn the_tree_puts_children_under_their_parents_branches_first() {
        let nodes = vec![
            node(MAIN, Kind::Branch, "", None),
            node("snap", Kind::Snapshot, MAIN, Some("0/169AD58")),
            node("feature", Kind::Branch, MAIN, Some("0/1690000")),
            node("sub", Kind::Branch, "feature", None),
            node("orphan", Kind::Branch, "gone", None),
        ];
        let order: Vec<(&str, usize)> = layout(&nodes)
            .iter()
            .map(|(n, d)| (n.name.as_str(), *d))
            .collect();
        assert_eq!(
            order,
            [
                ("main", 0),
                ("feature", 1),
                ("sub", 2),
                ("snap", 1),
                ("orphan", 0)
            ]
        );
        let svg = picture(&nodes, "feature").into_string();
        assert!(
            svg.contains("LSN 0/169AD58") && svg.contains("before rollback"),
            "{svg}"
        );
        assert!(
            svg.contains("automatic") && svg.contains("the API serves this"),
            "{svg}"
        );
        assert_eq!(svg.matches("class=\"edge\"").count(), 3, "{svg}");
    }
}
