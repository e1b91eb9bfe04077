//! Reaching a branch (issue 15): `url --branch` and `psql --branch` name its database (or its
//! compute), `url --api --branch` its preview API, on a real stack.

use super::common::{http, text};
use super::stack;

#[test]
fn url_and_psql_reach_a_branch_and_its_preview_api() {
    let s = stack();
    assert!(s.up().status.success());
    let o = s.wsctl(&["branch", "create", "feature", "--api"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = s.wsctl(&["url", "--branch", "feature"]);
    let url = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(o.status.success(), "{}", text(&o));
    let main_url = String::from_utf8_lossy(&s.wsctl(&["url"]).stdout)
        .trim()
        .to_string();
    assert_ne!(url, main_url);
    // psql --branch connects to the same database the URL names.
    let o = s.wsctl(&[
        "psql",
        "--branch",
        "feature",
        "-At",
        "-c",
        "SELECT current_database()",
    ]);
    let db = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(o.status.success(), "{}", text(&o));
    assert!(url.ends_with(&format!("/{db}")), "{url} vs {db}");
    let o = s.wsctl(&["psql", "-At", "-c", "SELECT current_database()"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "workspace");
    // The preview API answers at the URL `url --api --branch` gives.
    let o = s.wsctl(&["url", "--api", "--branch", "feature"]);
    let api = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(o.status.success() && api != s.api(), "{}", text(&o));
    let health = http().get(format!("{api}/health")).send().unwrap();
    assert!(health.status().is_success());
    assert_eq!(
        String::from_utf8_lossy(&s.wsctl(&["url", "--api", "--branch", "main"]).stdout).trim(),
        s.api()
    );
    // Unknown branches and branches without a preview say so.
    let o = s.wsctl(&["url", "--branch", "nope"]);
    assert!(
        !o.status.success() && text(&o).contains("no branch named nope"),
        "{}",
        text(&o)
    );
    let o = s.wsctl(&["psql", "--branch", "nope", "-c", "select 1"]);
    assert!(
        !o.status.success() && text(&o).contains("no branch named nope"),
        "{}",
        text(&o)
    );
    assert!(s.wsctl(&["branch", "create", "plain"]).status.success());
    let o = s.wsctl(&["url", "--api", "--branch", "plain"]);
    assert!(
        !o.status.success() && text(&o).contains("has no preview API"),
        "{}",
        text(&o)
    );
}
