//! The difference between two catalogues (`catalog::read`): what was added, removed, changed
//! or renamed going from `b` to `a`, as stable text, as JSON, and as the SQL that turns `b`
//! into `a`.
//!
//! A rename is an object with the same lineage (OID, or table OID and attnum) on both sides
//! under another name: a branch made by copying a database or by branching a timeline keeps
//! every OID, so the same OID is the same object. A column whose attnum matches but whose
//! type differs too is taken for a new column (attnums are handed out again after a branch),
//! and so is a table of another kind.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::catalog::{ObjKind, Object};

/// One difference, from `b` to `a`.
#[derive(Debug, Clone)]
pub enum Op {
    Added(Object),
    Removed(Object),
    /// (b's, a's), maybe with field changes too.
    Renamed(Object, Object),
    Changed(Object, Object),
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldChange {
    pub field: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl Op {
    fn key(&self) -> (ObjKind, &str) {
        match self {
            Op::Added(o) | Op::Removed(o) | Op::Renamed(_, o) | Op::Changed(_, o) => {
                (o.kind, &o.name)
            }
        }
    }

    fn word(&self) -> &'static str {
        match self {
            Op::Added(_) => "added",
            Op::Removed(_) => "removed",
            Op::Renamed(..) => "renamed",
            Op::Changed(..) => "changed",
        }
    }
}

fn field_changes(b: &Object, a: &Object) -> Vec<FieldChange> {
    let mut fields: Vec<&String> = b.attrs.keys().chain(a.attrs.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter(|f| b.attrs.get(*f) != a.attrs.get(*f))
        .map(|f| FieldChange {
            field: f.clone(),
            from: b.attrs.get(f).cloned(),
            to: a.attrs.get(f).cloned(),
        })
        .collect()
}

/// Whether an unmatched pair with the same lineage is one object renamed.
fn same_object(b: &Object, a: &Object) -> bool {
    match a.kind {
        ObjKind::Column => b.own == a.own || b.attrs.get("type") == a.attrs.get("type"),
        ObjKind::Table => b.own == a.own || b.attrs.get("kind") == a.attrs.get("kind"),
        _ => true,
    }
}

/// What changed from `b` to `a`, sorted by kind, then name. Objects pair up by lineage
/// first (so a rename is a rename, and a table dropped and made again is not the same
/// table), then by name.
pub fn diff(a: &[Object], b: &[Object]) -> Vec<Op> {
    let by_lineage: HashMap<(ObjKind, &str), usize> = b
        .iter()
        .enumerate()
        .filter_map(|(i, o)| Some(((o.kind, o.lineage.as_deref()?), i)))
        .collect();
    let by_name: HashMap<(ObjKind, &str), usize> = b
        .iter()
        .enumerate()
        .map(|(i, o)| ((o.kind, o.name.as_str()), i))
        .collect();
    let mut taken = vec![false; b.len()];
    let mut pairs: Vec<(&Object, Option<usize>)> = Vec::new();
    for o in a {
        let i = o
            .lineage
            .as_deref()
            .and_then(|l| by_lineage.get(&(o.kind, l)).copied())
            .filter(|&i| !taken[i] && same_object(&b[i], o));
        if let Some(i) = i {
            taken[i] = true;
        }
        pairs.push((o, i));
    }
    let mut ops = Vec::new();
    for (o, i) in pairs {
        let i = i.or_else(|| {
            let i = by_name.get(&(o.kind, o.name.as_str())).copied()?;
            (!taken[i]).then(|| {
                taken[i] = true;
                i
            })
        });
        let Some(i) = i else {
            ops.push(Op::Added(o.clone()));
            continue;
        };
        let old = &b[i];
        if old.own != o.own {
            ops.push(Op::Renamed(old.clone(), o.clone()));
        } else if !field_changes(old, o).is_empty() {
            // Changed itself (and maybe its table or schema was renamed).
            ops.push(Op::Changed(old.clone(), o.clone()));
        }
    }
    let removed = b.iter().zip(&taken).filter(|(_, t)| !**t);
    ops.extend(removed.map(|(o, _)| Op::Removed(o.clone())));
    ops.sort_by(|x, y| x.key().cmp(&y.key()).then(x.word().cmp(y.word())));
    ops
}

/// An object in one line: a column's type and default, a constraint's definition.
fn summary(o: &Object) -> String {
    let get = |k: &str| o.attrs.get(k).cloned().unwrap_or_default();
    match o.kind {
        ObjKind::Column => {
            let mut s = get("type");
            if get("nullability") == "not null" {
                s.push_str(" NOT NULL");
            }
            if !get("default").is_empty() {
                s.push_str(&format!(" DEFAULT {}", get("default")));
            }
            if !get("identity").is_empty() {
                s.push_str(&format!(" IDENTITY {}", get("identity")));
            }
            s
        }
        ObjKind::Constraint => get("definition"),
        ObjKind::Index | ObjKind::Trigger => o.ddl.clone().unwrap_or_default(),
        ObjKind::Sequence => format!(
            "{} start {} increment {}",
            get("type"),
            get("start"),
            get("increment")
        ),
        ObjKind::Grant if get("grant option") == "true" => "with grant option".into(),
        _ => String::new(),
    }
}

/// A field's value for the terminal: a function body is too long to show.
fn shown(field: &str, v: &Option<String>) -> String {
    match v {
        None => "(none)".into(),
        Some(_) if field == "definition" => "…".into(),
        Some(v) if v.is_empty() => "(none)".into(),
        Some(v) => v.clone(),
    }
}

fn field_text(fields: &[FieldChange]) -> String {
    fields
        .iter()
        .map(|f| match f.field.as_str() {
            "definition" => "definition changed".to_string(),
            _ => format!(
                "{}: {} -> {}",
                f.field,
                shown(&f.field, &f.from),
                shown(&f.field, &f.to)
            ),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// One line per change: `+ table      workspace.audit`.
pub fn text(ops: &[Op]) -> String {
    let mut out = String::new();
    for op in ops {
        let (sign, kind, rest) = match op {
            Op::Added(o) => ("+", o.kind, format!("{}  {}", o.name, summary(o))),
            Op::Removed(o) => ("-", o.kind, format!("{}  {}", o.name, summary(o))),
            Op::Renamed(b, a) => {
                let fields = field_changes(b, a);
                let more = if fields.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", field_text(&fields))
                };
                (">", a.kind, format!("{} -> {}{more}", b.name, a.name))
            }
            Op::Changed(b, a) => (
                "~",
                a.kind,
                format!("{}  {}", a.name, field_text(&field_changes(b, a))),
            ),
        };
        out.push_str(format!("{sign} {:10} {}", kind.as_str(), rest).trim_end());
        out.push('\n');
    }
    out
}

/// The changes as JSON objects: `{"change", "kind", "name", ...}`.
pub fn json(ops: &[Op]) -> serde_json::Value {
    let attrs = |o: &Object| serde_json::to_value(&o.attrs).unwrap_or_default();
    let list: Vec<serde_json::Value> = ops
        .iter()
        .map(|op| {
            let mut v = serde_json::json!({"change": op.word(), "kind": op.key().0});
            match op {
                Op::Added(o) | Op::Removed(o) => {
                    v["name"] = o.name.clone().into();
                    v["attributes"] = attrs(o);
                }
                Op::Renamed(b, a) | Op::Changed(b, a) => {
                    v["name"] = a.name.clone().into();
                    if b.name != a.name {
                        v["from"] = b.name.clone().into();
                    }
                    v["fields"] = serde_json::to_value(field_changes(b, a)).unwrap_or_default();
                }
            }
            v
        })
        .collect();
    serde_json::Value::Array(list)
}

/// Counts per kind of change, for a summary line.
pub fn counts(ops: &[Op]) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for op in ops {
        *out.entry(op.word()).or_default() += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(table: &str, name: &str, attnum: u32, ty: &str) -> Object {
        Object {
            kind: ObjKind::Column,
            name: format!("s.{table}.{name}"),
            own: name.into(),
            q_own: name.into(),
            q_schema: "s".into(),
            q_table: Some(format!("s.{table}")),
            container: Some(format!("s.{table}")),
            extra: None,
            ddl: None,
            lineage: Some(format!("{table}:{attnum}")),
            attrs: [("type".to_string(), ty.to_string())].into(),
        }
    }

    #[test]
    fn same_attnum_is_a_rename_or_a_type_change_but_not_both() {
        let b = vec![column("t", "a", 1, "text"), column("t", "b", 2, "int")];
        // a renamed to c; b's type changed; then d added independently at attnum 3.
        let a = vec![
            column("t", "c", 1, "text"),
            column("t", "b", 2, "bigint"),
            column("t", "d", 3, "int"),
        ];
        let ops = diff(&a, &b);
        let t = text(&ops);
        assert!(t.contains("> column     s.t.a -> s.t.c"), "{t}");
        assert!(t.contains("~ column     s.t.b  type: int -> bigint"), "{t}");
        assert!(t.contains("+ column     s.t.d"), "{t}");
        assert_eq!(ops.len(), 3, "{t}");
        // Another name and another type at the same attnum: a different column.
        let ops = diff(
            &[column("t", "x", 2, "date")],
            &[column("t", "b", 2, "int")],
        );
        assert_eq!(counts(&ops), [("added", 1), ("removed", 1)].into());
    }

    #[test]
    fn no_changes_is_empty_and_order_is_stable() {
        let b = vec![column("t", "a", 1, "text"), column("u", "a", 1, "text")];
        assert!(diff(&b, &b).is_empty());
        let ops = diff(&[], &b);
        assert_eq!(
            text(&ops),
            "- column     s.t.a  text\n- column     s.u.a  text\n"
        );
    }
}
