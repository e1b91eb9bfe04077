//! Stack names, `--stack`, and the target line commands that change something print first.

use std::process::Command;

use serde_json::Value;

use crate::common::{text, wsctl_bin};

fn first_stderr_line(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_stack_is_named_and_wrong_names_are_refused() {
    let s = crate::stack();
    let project = s.dir.parent().unwrap();
    std::fs::write(project.join("workspace-stack.toml"), "name = \"shop\"\n").unwrap();
    let o = s.up();
    assert!(o.status.success(), "{}", text(&o));
    let line = first_stderr_line(&o);
    assert!(
        line.starts_with("stack shop · ") && line.contains(&s.dir.display().to_string()),
        "{line}"
    );
    assert!(line.contains("postgres backend"), "{line}");
    let state: Value =
        serde_json::from_slice(&std::fs::read(s.dir.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["name"], "shop");

    // The wrong name: refused, and nothing is created.
    let o = s.wsctl(&["--stack", "billing", "branch", "create", "wrong"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("--stack billing") && text(&o).contains("holds stack shop"),
        "{}",
        text(&o)
    );
    let o = Command::new(wsctl_bin())
        .arg("--state-dir")
        .arg(&s.dir)
        .args(["branch", "delete", "main", "--force"])
        .env("WSCTL_STACK", "billing")
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("holds stack shop"), "{}", text(&o));
    let list = s.wsctl(&["branch", "list", "--json"]);
    assert!(!String::from_utf8_lossy(&list.stdout).contains("wrong"));

    // The right name: it acts, and says on what first.
    let o = Command::new(wsctl_bin())
        .arg("--state-dir")
        .arg(&s.dir)
        .args(["branch", "create", "feature"])
        .env("WSCTL_STACK", "shop")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let line = first_stderr_line(&o);
    assert!(
        line.starts_with("stack shop · ") && line.ends_with("· branch feature"),
        "{line}"
    );
    // Reading commands print no target line.
    let o = s.wsctl(&["branch", "list"]);
    assert!(o.stderr.is_empty(), "{}", text(&o));

    // Without a name in the file, the project directory's name (and state files of earlier
    // versions, without `name`, still load).
    std::fs::remove_file(project.join("workspace-stack.toml")).unwrap();
    let mut state = state;
    state.as_object_mut().unwrap().remove("name");
    std::fs::write(s.dir.join("state.json"), state.to_string()).unwrap();
    let dirname = project.file_name().unwrap().to_str().unwrap();
    let o = s.wsctl(&["--stack", dirname, "status", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = s.wsctl(&["--stack", "shop", "status"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(s.wsctl(&["down"]).status.success());
}
