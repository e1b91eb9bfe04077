//! Two schemas that differ in every kind of object `wsctl branch diff` compares, and the
//! lines it must print; shared by the postgres (tests/wsctl) and neon (tests/neon) tests.
#![allow(dead_code)]

/// Objects main and its branch start with.
pub const BASE: &str = "
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
pub const CHANGES: &str = "
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
pub const EXPECTED: &[&str] = &[
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

pub fn check_text(out: &str) {
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
