//! The crate's module graph: no import cycles, and dependencies between the top-level modules
//! point down the layers of ARCHITECTURE.md. Read from the source (std only), so it runs in
//! `cargo test` in well under a second.
//!
//! An edge is any `crate::`, `super::` or `self::` path in non-test code (in `use` lines and
//! inline), resolved to the longest module it names. A module and its own ancestor are not an
//! edge: a parent declares and re-exports its children, and a child reads its parent's items.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Top-level modules, highest layer first: each may use only modules of a lower rank.
const LAYERS: &[(&str, u8)] = &[
    ("cli", 11),
    ("console", 10),
    ("engine", 9),
    ("runtime", 8),
    ("backend", 7),
    ("health", 6),
    ("import", 6),
    ("stack", 5),
    ("api", 4),
    ("branch", 4),
    ("telemetry", 3),
    ("config", 2),
    ("db", 1),
    ("domain", 0),
];

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading src") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`; `src/lib.rs` is the crate root; `src/bin` is
/// not part of the library.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut files = Vec::new();
    rs_files(src, &mut files);
    let mut mods = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).expect("under src");
        if rel.starts_with("bin") {
            continue;
        }
        let mut parts: Module = rel
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
            parts.pop();
        }
        mods.insert(parts, f);
    }
    mods
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path that starts with `crate`, `super` or `self` on this line, as segments (with
/// each name of a directly following `{…}` group as a path of its own).
fn paths_in(line: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for kw in ["crate", "super", "self"] {
        let mut from = 0;
        while let Some(i) = line[from..].find(kw) {
            let start = from + i;
            from = start + kw.len();
            let before_ok = !line[..start].chars().next_back().is_some_and(is_ident_char);
            let rest = &line[start + kw.len()..];
            if !before_ok || !rest.starts_with("::") {
                continue;
            }
            let mut segs = Vec::new();
            let mut r = rest;
            while let Some(tail) = r.strip_prefix("::") {
                let n = tail.find(|c: char| !is_ident_char(c)).unwrap_or(tail.len());
                if n == 0 {
                    r = tail;
                    break;
                }
                segs.push(tail[..n].to_string());
                r = &tail[n..];
            }
            if let Some(group) = r.strip_prefix('{') {
                let inner = &group[..group.find('}').unwrap_or(group.len())];
                for name in inner.split(|c: char| !is_ident_char(c)) {
                    let lower = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
                    if lower && name != "self" {
                        let mut p = segs.clone();
                        p.push(name.to_string());
                        out.push((kw.to_string(), p));
                    }
                }
            }
            out.push((kw.to_string(), segs));
        }
    }
    out
}

fn resolve(mods: &BTreeMap<Module, PathBuf>, path: &[String]) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| mods.contains_key(p))
}

/// Edges between modules, each with the first `file:line` that makes it.
fn edges(src: &Path) -> BTreeMap<(Module, Module), String> {
    let mods = modules(src);
    let mut edges = BTreeMap::new();
    for (m, file) in &mods {
        let text = std::fs::read_to_string(file).expect("reading a source file");
        for (i, line) in text.lines().enumerate() {
            let s = line.trim_start();
            if s.starts_with("#[cfg(test)]") {
                break; // the test module is the end of every file that has one
            }
            if s.starts_with("//") {
                continue;
            }
            for (kw, segs) in paths_in(line) {
                // `self` is this module, `super` its parent (for `a/mod.rs` as for `a/b.rs`).
                let mut full: Module = match kw.as_str() {
                    "crate" => Vec::new(),
                    "self" => m.clone(),
                    _ => m[..m.len().saturating_sub(1)].to_vec(),
                };
                full.extend(segs);
                let Some(t) = resolve(&mods, &full) else {
                    continue;
                };
                let ancestry = t.starts_with(m) || m.starts_with(&t);
                if !ancestry {
                    let at = format!(
                        "{}:{}",
                        file.strip_prefix(src).unwrap_or(file).display(),
                        i + 1
                    );
                    edges.entry((m.clone(), t)).or_insert(at);
                }
            }
        }
    }
    edges
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<(Module, Module), String>) -> Vec<Vec<Module>> {
    struct Tarjan<'a> {
        g: BTreeMap<&'a Module, Vec<&'a Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on: BTreeSet<&'a Module>,
        out: Vec<Vec<Module>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a Module) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on.insert(v);
            for w in self.g.get(v).cloned().unwrap_or_default() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on.remove(w);
                    comp.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    self.out.push(comp);
                }
            }
        }
    }
    let mut t = Tarjan {
        g: BTreeMap::new(),
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for (a, b) in edges.keys() {
        t.g.entry(a).or_default().push(b);
    }
    let nodes: Vec<&Module> = t.g.keys().copied().collect();
    for v in nodes {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.out
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn the_module_graph_has_no_cycles() {
    let edges = edges(&src());
    assert!(
        edges.len() > 50,
        "the scan found only {} edges: it no longer reads the source",
        edges.len()
    );
    let mut report = String::new();
    for comp in cycles(&edges) {
        let names: Vec<String> = comp.iter().map(name).collect();
        report.push_str(&format!("cycle: {}\n", names.join(" <-> ")));
        for ((a, b), at) in &edges {
            if comp.contains(a) && comp.contains(b) {
                report.push_str(&format!("  {} -> {}  ({at})\n", name(a), name(b)));
            }
        }
    }
    assert!(report.is_empty(), "import cycles in src/:\n{report}");
}

#[test]
fn top_level_modules_use_only_lower_layers() {
    let rank = |m: &Module| {
        let top = m.first().map(String::as_str).unwrap_or("");
        LAYERS.iter().find(|(n, _)| *n == top).map(|(_, r)| *r)
    };
    let mut report = String::new();
    for ((a, b), at) in edges(&src()) {
        if a.first() == b.first() {
            continue;
        }
        match (rank(&a), rank(&b)) {
            (Some(ra), Some(rb)) if ra > rb => {}
            (Some(_), Some(_)) => report.push_str(&format!(
                "{} must not use {} ({at})\n",
                a[0],
                b.first().map_or("crate", String::as_str)
            )),
            _ => report.push_str(&format!(
                "{} -> {}: a top-level module not in LAYERS ({at})\n",
                name(&a),
                name(&b)
            )),
        }
    }
    assert!(report.is_empty(), "layering in src/:\n{report}");
}

/// The scan itself: it must see a cycle and a layer violation where there is one.
#[test]
fn the_scan_finds_a_cycle_and_groups() {
    let dir = std::env::temp_dir().join(format!("arch-scan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("lib.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(
        dir.join("a/mod.rs"),
        "pub mod x;\nuse crate::b::{thing, other};\n",
    )
    .unwrap();
    std::fs::write(dir.join("a/x.rs"), "fn f() { crate::b::g(); }\n").unwrap();
    std::fs::write(
        dir.join("b.rs"),
        "pub fn g() { crate::a::x::f(); }\n#[cfg(test)]\nmod tests { use crate::a; }\n",
    )
    .unwrap();
    let e = edges(&dir);
    let m = |s: &str| -> Module { s.split("::").map(String::from).collect() };
    assert!(e.contains_key(&(m("a"), m("b"))), "{e:?}");
    assert!(e.contains_key(&(m("a::x"), m("b"))), "{e:?}");
    assert!(e.contains_key(&(m("b"), m("a::x"))), "{e:?}");
    assert_eq!(e.len(), 3, "{e:?}");
    let c = cycles(&e);
    assert_eq!(c, vec![vec![m("a::x"), m("b")]]);
    std::fs::remove_dir_all(&dir).unwrap();
}
