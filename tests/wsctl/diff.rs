//! `wsctl branch diff` on the postgres backend: two branches that differ in every kind of
//! object, renames told apart from drop + add, the migration `--sql` prints really turning
//! one into the other, and loud failures when a side cannot be read.

use serde_json::Value;
use workspace_stack::stack::state::StateDir;
use workspace_stack::stack::supervisor::pg_config_on;

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

/// Objects main and its branch start with.
pub(super) const BASE: &str = "
    DO $$ BEGIN CREATE ROLE diff_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
    CREATE TABLE workspace.diff_t (id int PRIMARY KEY, title text, note text,
                                   price numeric DEFAULT 0, kind text, gone text);
    CREATE INDEX diff_t_title ON workspace.diff_t (title);
    CREATE INDEX diff_t_note ON workspace.diff_t (note);
    CREATE FUNCTION workspace.diff_f() RETURNS trigger LANGUAGE plpgsql
        AS $f$ BEGIN RETURN NEW; END $f$;
    CREATE TRIGGER diff_trg BEFORE INSERT ON workspace.diff_t
        FOR EACH ROW EXECUTE FUNCTION workspace.diff_f();
    CREATE SEQUENCE workspace.diff_seq;
";

/// What the branch changes: one or more of each kind.
pub(super) const CHANGES: &str = "
    CREATE SCHEMA extra;
    CREATE TABLE extra.audit (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
    ALTER TABLE workspace.diff_t RENAME TO diff_renamed;
    ALTER TABLE workspace.diff_renamed RENAME COLUMN note TO remark;
    ALTER TABLE workspace.diff_renamed ALTER COLUMN title TYPE varchar(200);
    ALTER TABLE workspace.diff_renamed ALTER COLUMN price SET DEFAULT 5;
    ALTER TABLE workspace.diff_renamed ALTER COLUMN kind SET NOT NULL;
    ALTER TABLE workspace.diff_renamed ADD COLUMN added int;
    ALTER TABLE workspace.diff_renamed DROP COLUMN gone;
    ALTER TABLE workspace.diff_renamed ADD CONSTRAINT diff_price_pos CHECK (price >= 0);
    DROP INDEX workspace.diff_t_title;
    CREATE INDEX diff_kind ON workspace.diff_renamed (kind);
    ALTER INDEX workspace.diff_t_note RENAME TO diff_remark_idx;
    CREATE OR REPLACE FUNCTION workspace.diff_f() RETURNS trigger LANGUAGE plpgsql
        AS $f$ BEGIN NEW.kind := coalesce(NEW.kind, 'x'); RETURN NEW; END $f$;
    CREATE FUNCTION workspace.diff_g(a int) RETURNS int LANGUAGE sql AS $f$ SELECT a + 1 $f$;
    DROP TRIGGER diff_trg ON workspace.diff_renamed;
    CREATE TRIGGER diff_trg2 BEFORE UPDATE ON workspace.diff_renamed
        FOR EACH ROW EXECUTE FUNCTION workspace.diff_f();
    ALTER SEQUENCE workspace.diff_seq INCREMENT BY 5;
    CREATE SEQUENCE workspace.diff_seq2;
    GRANT SELECT ON workspace.diff_renamed TO diff_reader;
";

/// The lines `branch diff` must print for CHANGES (on either backend).
pub(super) const EXPECTED: &[&str] = &[
    "+ schema     extra",
    "+ sequence   extra.audit_id_seq",
    "+ table      extra.audit",
    "+ column     extra.audit.at  timestamp with time zone NOT NULL DEFAULT now()",
    "> table      workspace.diff_t -> workspace.diff_renamed",
    "> column     workspace.diff_t.note -> workspace.diff_renamed.remark",
    "~ column     workspace.diff_renamed.title  type: text -> character varying(200)",
    "~ column     workspace.diff_renamed.price  default: 0 -> 5",
    "~ column     workspace.diff_renamed.kind  nullability: null -> not null",
    "+ column     workspace.diff_renamed.added  integer",
    "- column     workspace.diff_t.gone  text",
    "+ constraint workspace.diff_renamed.diff_price_pos  CHECK ((price >= (0)::numeric))",
    "- index      workspace.diff_t_title",
    "+ index      workspace.diff_kind",
    "> index      workspace.diff_t_note -> workspace.diff_remark_idx  (definition changed)",
    "~ function   workspace.diff_f()  definition changed",
    "+ function   workspace.diff_g(a integer)",
    "- trigger    workspace.diff_t.diff_trg",
    "+ trigger    workspace.diff_renamed.diff_trg2",
    "~ sequence   workspace.diff_seq  increment: 1 -> 5",
    "+ sequence   workspace.diff_seq2",
    "+ grant      SELECT on table workspace.diff_renamed to diff_reader",
];

pub(super) fn check_text(out: &str) {
    for line in EXPECTED {
        assert!(
            out.lines().any(|l| l.starts_with(line)),
            "missing {line:?} in:\n{out}"
        );
    }
    // Renames are not drop + add.
    for not in [
        "- table      workspace.diff_t",
        "+ table      workspace.diff_renamed",
        "+ column     workspace.diff_renamed.remark",
        "- index      workspace.diff_t_note",
    ] {
        assert!(!out.contains(not), "{not:?} in:\n{out}");
    }
}

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
