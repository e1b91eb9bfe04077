//! `wsctl branch diff` on the postgres backend: two branches that differ in every kind of
//! object, renames told apart from drop + add, the migration `--sql` prints really turning
//! one into the other, and loud failures when a side cannot be read.

use serde_json::Value;
use workspace_stack::stack::connection::pg_config_on;
use workspace_stack::stack::state::StateDir;

use super::branch::rt;
use super::{text, Stack};

/// Runs `sql` on branch `name`'s database.
fn exec(s: &Stack, name: &str, sql: &str) {
    let dir = StateDir {
        root: s.dir.clone(),
    };
    let state = dir.load().unwrap().unwrap();
    let (db, port) = state.branch_target(name);
    rt().block_on(async {
        let client = workspace_stack::db::connect(&pg_config_on(&dir, &state, &db, port).unwrap())
            .await
            .unwrap();
        client.batch_execute(sql).await.unwrap();
    });
}

#[path = "../common/diff_fixture.rs"]
mod fixture;
use fixture::{check_text, BASE, CHANGES};

#[test]
fn branch_diff_shows_every_kind_of_change_and_its_sql_turns_one_into_the_other() {
    let s = super::stack();
    assert!(s.up().status.success());
    exec(&s, "main", BASE);
    let o = s.wsctl(&["branch", "create", "feat"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = s.wsctl(&["branch", "create", "copy"]);
    assert!(o.status.success(), "{}", text(&o));

    let o = s.wsctl(&["branch", "diff", "feat"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("No schema differences between branch feat and main"),
        "{}",
        text(&o)
    );

    exec(&s, "feat", CHANGES);
    let o = s.wsctl(&["branch", "diff", "feat"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    check_text(&out);
    // Stable: the same diff twice is the same text.
    assert_eq!(
        String::from_utf8_lossy(&s.wsctl(&["branch", "diff", "feat", "main"]).stdout),
        out
    );

    let o = s.wsctl(&["branch", "diff", "feat", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["a"].as_str(), v["b"].as_str()),
        (Some("feat"), Some("main"))
    );
    let changes = v["changes"].as_array().unwrap();
    assert!(changes.iter().any(|c| c["change"] == "renamed"
        && c["kind"] == "table"
        && c["from"] == "workspace.diff_t"
        && c["name"] == "workspace.diff_renamed"));
    assert!(changes.iter().any(|c| c["change"] == "changed"
        && c["name"] == "workspace.diff_renamed.title"
        && c["fields"][0]["to"] == "character varying(200)"));

    // The migration makes `copy` (a copy of main) into feat's schema.
    let o = s.wsctl(&["branch", "diff", "feat", "copy", "--sql"]);
    assert!(o.status.success(), "{}", text(&o));
    let sql = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        sql.contains("ALTER TABLE workspace.diff_t RENAME TO diff_renamed;"),
        "{sql}"
    );
    exec(&s, "copy", &sql);
    let o = s.wsctl(&["branch", "diff", "feat", "copy"]);
    assert!(
        o.status.success() && text(&o).contains("No schema differences"),
        "after applying:\n{sql}\n{}",
        text(&o)
    );
}

#[test]
fn branch_diff_fails_loudly_when_a_side_cannot_be_read() {
    let s = super::stack();
    assert!(s.up().status.success());
    let o = s.wsctl(&["branch", "create", "side"]);
    assert!(o.status.success(), "{}", text(&o));

    let o = s.wsctl(&["branch", "diff", "nope"]);
    assert!(
        !o.status.success() && text(&o).contains("no branch named nope"),
        "{}",
        text(&o)
    );
    let o = s.wsctl(&["branch", "diff", "main"]);
    assert!(
        !o.status.success() && text(&o).contains("main has no parent"),
        "{}",
        text(&o)
    );
    let o = s.wsctl(&["branch", "diff", "side", "nope"]);
    assert!(
        !o.status.success() && text(&o).contains("no branch named nope"),
        "{}",
        text(&o)
    );

    // A database that refuses connections cannot be read: an error, not "no differences".
    exec(
        &s,
        "main",
        "ALTER DATABASE ws_branch_side ALLOW_CONNECTIONS false",
    );
    let o = s.wsctl(&["branch", "diff", "side"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("reading the schema of branch side") && !text(&o).contains("No schema"),
        "{}",
        text(&o)
    );
    exec(
        &s,
        "main",
        "ALTER DATABASE ws_branch_side ALLOW_CONNECTIONS true",
    );

    assert!(s.wsctl(&["down"]).status.success());
    let o = s.wsctl(&["branch", "diff", "side"]);
    assert!(
        !o.status.success() && text(&o).contains("not running"),
        "{}",
        text(&o)
    );
}
