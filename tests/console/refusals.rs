//! Who the console refuses: no cookie, a wrong token, another origin, a wrong CSRF token, a
//! foreign Host. Each is a 403 with a body, never a 500, and changes nothing; the same request
//! done right succeeds (so the refusals are the guard's, not a broken action).

use std::os::unix::fs::PermissionsExt;

use reqwest::blocking::Client;
use reqwest::header::{ACCEPT, COOKIE, HOST, LOCATION, ORIGIN, SET_COOKIE};

use super::{console_stack, text};

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn snapshots(s: &common::Stack) -> String {
    text(&s.wsctl(&["snapshot", "list"]))
}

use super::common;

/// The per-session token a console page carries in its forms.
fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a CSRF field")
        .to_string()
}

#[test]
fn requests_without_the_cookie_or_from_elsewhere_are_refused() {
    let s = console_stack();
    let origin = s.console_origin();
    let http = client();
    let mode = std::fs::metadata(s.dir.join("secrets/console-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let r = http.get(format!("{origin}/")).send().unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("\"success\":false"));
    let r = http
        .get(format!("{origin}/branches"))
        .header(ACCEPT, "text/html")
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("<html"));
    let r = http
        .get(format!("{origin}/login?token=wrong"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);

    let r = http.get(s.console_url()).send().unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[LOCATION], "/");
    let set = r.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_string();

    let page = http
        .get(format!("{origin}/branches"))
        .header(COOKIE, &cookie)
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    let csrf = csrf_of(&html);
    let post = |cookie: Option<&str>, from: Option<&str>, csrf: &str, name: &str| {
        let mut r = http
            .post(format!("{origin}/actions/snapshot"))
            .form(&[("csrf", csrf), ("name", name)]);
        if let Some(c) = cookie {
            r = r.header(COOKIE, c);
        }
        if let Some(o) = from {
            r = r.header(ORIGIN, o);
        }
        r.send().unwrap()
    };
    for (what, r) in [
        ("no cookie", post(None, Some(&origin), &csrf, "nocookie")),
        (
            "another origin",
            post(Some(&cookie), Some("http://evil.example"), &csrf, "evil"),
        ),
        ("no origin", post(Some(&cookie), None, &csrf, "noorigin")),
        (
            "wrong csrf",
            post(Some(&cookie), Some(&origin), "not-the-token", "nocsrf"),
        ),
    ] {
        assert_eq!(r.status(), 403, "{what}");
        let body = r.text().unwrap();
        assert!(body.contains("Refused"), "{what}: {body}");
    }
    let r = http
        .get(format!("{origin}/"))
        .header(COOKIE, &cookie)
        .header(HOST, "rebound.example")
        .send()
        .unwrap();
    assert_eq!(r.status(), 403, "a foreign Host");
    let list = snapshots(&s);
    for name in ["nocookie", "evil", "noorigin", "nocsrf"] {
        assert!(!list.contains(name), "{name} was taken: {list}");
    }

    let r = post(Some(&cookie), Some(&origin), &csrf, "allowed");
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert!(snapshots(&s).contains("allowed"));

    malformed_input_is_a_4xx(&http, &origin, &cookie, &csrf);
}

/// A form without its field, or naming nothing there is, is a 4xx, not a 500.
fn malformed_input_is_a_4xx(http: &Client, origin: &str, cookie: &str, csrf: &str) {
    let r = http
        .post(format!("{origin}/actions/rollback"))
        .header(COOKIE, cookie)
        .header(ORIGIN, origin)
        .form(&[("csrf", csrf)])
        .send()
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = http
        .post(format!("{origin}/actions/rollback"))
        .header(COOKIE, cookie)
        .header(ORIGIN, origin)
        .form(&[("csrf", csrf), ("to", "no-such-snapshot")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 409);
}

/// The console's actions go through the same rules as the CLI's: a protected branch is not
/// deleted without --force (which the console has not), and a branch made in the console is in
/// `branch history` like one made with `wsctl branch create`.
#[test]
fn console_actions_keep_protection_and_history() {
    let s = console_stack();
    let origin = s.console_origin();
    let http = client();
    let o = s.wsctl(&["branch", "create", "kept", "--protect"]);
    assert!(o.status.success(), "{}", text(&o));
    let r = http.get(s.console_url()).send().unwrap();
    let set = r.headers()[SET_COOKIE].to_str().unwrap().to_string();
    let cookie = set.split(';').next().unwrap().to_string();
    let html = http
        .get(format!("{origin}/branches"))
        .header(COOKIE, &cookie)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let csrf = csrf_of(&html);
    let post = |path: &str, form: &[(&str, &str)]| {
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(form);
        http.post(format!("{origin}{path}"))
            .header(COOKIE, &cookie)
            .header(ORIGIN, &origin)
            .form(&all)
            .send()
            .unwrap()
    };
    let r = post("/actions/delete", &[("name", "kept")]);
    let status = r.status();
    let body = r.text().unwrap();
    assert!(status.is_client_error(), "{status}: {body}");
    assert!(body.contains("protected"), "{body}");
    let list = text(&s.wsctl(&["branch", "list"]));
    assert!(
        list.contains("kept"),
        "a protected branch was deleted: {list}"
    );

    let r = post(
        "/actions/branch",
        &[("name", "fromconsole"), ("from", "main")],
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let history = text(&s.wsctl(&["branch", "history", "fromconsole"]));
    assert!(history.contains("created"), "{history}");
}

#[test]
fn no_console_skips_it() {
    let s = common::Stack::new("console-test-");
    let o = s.up_with(&["--no-console"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("Console "), "{}", text(&o));
    let status: serde_json::Value =
        serde_json::from_slice(&s.wsctl(&["status", "--json"]).stdout).unwrap();
    assert!(!status.to_string().contains("\"console\""), "{status}");
    let o = s.wsctl(&["console"]);
    assert!(
        !o.status.success() && text(&o).contains("--no-console"),
        "{}",
        text(&o)
    );
}
