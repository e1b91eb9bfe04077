//! The web console on a neon stack (stand-ins): the branch tree shows timelines with their
//! LSNs, and the overview lists the storage services.

use reqwest::blocking::Client;

use super::{one_at_a_time, text, NeonStack};

#[test]
fn the_console_draws_neon_branches_with_their_lsn() {
    let _turn = one_at_a_time();
    let s = NeonStack::new("wsctl-neon-console-");
    let o = s.up(&[]);
    assert!(o.status.success(), "{}", text(&o));
    for args in [
        &["branch", "create", "feat"][..],
        &["snapshot", "create", "s1"],
    ] {
        let o = s.wsctl(args);
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = s.wsctl(&["console"]);
    assert!(o.status.success(), "{}", text(&o));
    let login = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let origin = login.split("/login").next().unwrap().to_string();
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http.get(&login).send().unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let get = |path: &str| {
        let r = http
            .get(format!("{origin}{path}"))
            .header("cookie", &cookie)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.text().unwrap()
    };
    let branches = get("/branches");
    assert!(branches.contains("data-name=\"feat\""), "{branches}");
    assert!(branches.contains("s1 (snapshot)"), "{branches}");
    assert!(
        branches.contains("LSN 0/"),
        "no LSN in the tree: {branches}"
    );
    let overview = get("/");
    for service in [
        "pageserver",
        "safekeeper",
        "storage_broker",
        "compute",
        "console",
    ] {
        assert!(
            overview.contains(&format!("data-service=\"{service}")),
            "{service}: {overview}"
        );
    }
}
