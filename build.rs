//! Build-time inputs of the crate:
//! - every `src/db/migrations/NNNN_name.sql` becomes an entry of `db::migrations::MIGRATIONS`
//!   (`$OUT_DIR/migrations.rs`), so a file dropped into that directory is applied by the next
//!   build's `wsctl migrate` without being registered anywhere else;
//! - the commit the binaries were built from (`WSCTL_COMMIT`, shown by `wsctl --version`):
//!   the `WSCTL_COMMIT` environment variable if set (the Nix build has no `.git` and passes
//!   the flake's revision), else `git rev-parse --short HEAD`, else "unknown".

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "src/db/migration_files.rs"]
mod migration_files;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let dir = manifest.join("src/db/migrations");
    // A directory makes cargo rescan it: a new, removed or edited file reruns this script.
    println!("cargo:rerun-if-changed={}", dir.display());
    let code = match migrations(&dir) {
        Ok(code) => code,
        Err(e) => panic!("src/db/migrations: {e}"),
    };
    std::fs::write(out.join("migrations.rs"), code).expect("writing migrations.rs");
    println!("cargo:rustc-env=WSCTL_COMMIT={}", commit(&manifest));
}

fn migrations(dir: &Path) -> Result<String, String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.starts_with('.') {
            continue; // editor swap files and the like
        }
        let (version, name) = migration_files::parse_file_name(&file)?;
        files.push((version, name.to_string(), entry.path()));
    }
    files.sort();
    let versions: Vec<(i32, String)> = files.iter().map(|(v, n, _)| (*v, n.clone())).collect();
    migration_files::check_dense(&versions)?;
    let mut code = String::from("&[\n");
    for (version, name, path) in &files {
        code.push_str(&format!(
            "    Migration {{ version: {version}, name: {name:?}, sql: include_str!({:?}) }},\n",
            path.display().to_string()
        ));
    }
    code.push(']');
    Ok(code)
}

fn commit(manifest: &Path) -> String {
    println!("cargo:rerun-if-env-changed=WSCTL_COMMIT");
    if let Some(c) = std::env::var("WSCTL_COMMIT").ok().filter(|c| !c.is_empty()) {
        return c;
    }
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(manifest)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".into();
    };
    // Rerun when HEAD moves: HEAD itself (a checkout) and the branch it points at (a commit).
    for path in ["HEAD", "packed-refs"]
        .into_iter()
        .map(String::from)
        .chain(git(&["symbolic-ref", "-q", "HEAD"]))
    {
        if let Some(p) = git(&["rev-parse", "--git-path", &path]) {
            let p = manifest.join(p);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
    commit
}
