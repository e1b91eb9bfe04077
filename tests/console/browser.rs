//! What a person does in the console, in chromium.

use std::io::Write;

use super::{console_stack, rt, text, Browser};

#[test]
fn overview_lists_the_services_and_the_health_checks_pass() {
    let s = console_stack();
    rt().block_on(async {
        let b = Browser::start().await;
        b.login(&s).await;
        for service in ["postgres", "workspace-api", "console"] {
            let row = b
                .wait_text(&format!("tr[data-service='{service}']"), "running")
                .await;
            assert!(row.contains(service), "{row}");
        }
        // The console runs the suite once the stack is ready; the page follows by itself.
        b.wait_for("#health-summary[data-failed='0']").await;
        let summary = b.wait_text("#health-summary", "checks").await;
        assert!(summary.contains(" 0 failed"), "{summary}");
        let first = b.wait_text("#health-summary", "at").await;
        // "Run again" runs it anew: a later time stamp (the suite takes over a second here only
        // when something is wrong, so wait past the second boundary first).
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        b.click("#run-health").await;
        let again = b.wait_text("#health-summary", " 0 failed").await;
        assert_ne!(first, again, "run again did not run the suite");
        assert!(b.c.find(fantoccini::Locator::Css("tr.fail")).await.is_err());
        let urls = b.wait_text("main", "OpenAPI").await;
        assert!(
            urls.contains(&format!(
                "postgres://postgres@127.0.0.1:{}/workspace",
                s.pg_port
            )),
            "{urls}"
        );
        let password = std::fs::read_to_string(s.dir.join("secrets/pg-password")).unwrap();
        let html = b.c.source().await.unwrap();
        assert!(
            !html.contains(password.trim()),
            "the page shows the password"
        );
        b.screenshot("overview").await;

        b.c.goto(&format!("{}/migrations", s.console_origin()))
            .await
            .unwrap();
        b.wait_text("#migrations", "applied").await;
        b.screenshot("migrations").await;
        b.click("#migrate-check").await;
        let result = b.wait_text("#result", "schema current").await;
        assert!(result.contains("schema current: true"), "{result}");

        b.c.goto(&format!("{}/imports", s.console_origin()))
            .await
            .unwrap();
        b.wait_text("main", "Imports").await;
        b.screenshot("imports").await;
    });
}

#[test]
fn a_branch_made_in_the_form_is_in_the_tree_and_in_branch_list() {
    let s = console_stack();
    rt().block_on(async {
        let b = Browser::start().await;
        b.login(&s).await;
        b.c.goto(&format!("{}/branches", s.console_origin()))
            .await
            .unwrap();
        b.wait_for("#branch-name")
            .await
            .send_keys("feature-x")
            .await
            .unwrap();
        b.click("#create-branch-submit").await;
        b.wait_text("#result", "Created branch feature-x").await;

        b.c.goto(&format!("{}/branches", s.console_origin()))
            .await
            .unwrap();
        let node = b
            .wait_text("#tree g[data-name='feature-x']", "feature-x")
            .await;
        assert!(!node.contains("snapshot"), "{node}");
        let o = s.wsctl(&["branch", "list", "--json"]);
        assert!(
            o.status.success() && text(&o).contains("\"feature-x\""),
            "{}",
            text(&o)
        );

        // A change made from the CLI shows up without a reload.
        let o = s.wsctl(&["snapshot", "create", "from-cli"]);
        assert!(o.status.success(), "{}", text(&o));
        let node = b.wait_text("#tree g[data-name='from-cli']", "manual").await;
        assert!(node.contains("from-cli (snapshot)"), "{node}");
        b.screenshot("branches").await;
    });
}

#[test]
fn rollback_through_the_dialog_brings_rows_back_and_undo_returns() {
    let s = console_stack();
    rt().block_on(async {
        let db = s.sql().await;
        for i in 0..5 {
            db.execute(
                "INSERT INTO workspace.workspace_items (title, description, category, priority, status) \
                 VALUES ($1, 'd', 'dashboard', 'low', 'new')",
                &[&format!("row {i}")],
            )
            .await
            .unwrap();
        }
        let b = Browser::start().await;
        b.login(&s).await;
        b.c.goto(&format!("{}/branches", s.console_origin())).await.unwrap();
        b.wait_for("#snapshot-name").await.send_keys("s1").await.unwrap();
        b.click("#take-snapshot-submit").await;
        b.wait_text("#result", "Snapshot s1 of main taken").await;

        // Taking the snapshot closed the connections to main: a new one.
        let db = s.sql().await;
        db.execute("DELETE FROM workspace.workspace_items", &[]).await.unwrap();
        assert_eq!(s.items().await, 0);

        b.c.goto(&format!("{}/branches", s.console_origin())).await.unwrap();
        b.click("tr[data-snapshot='s1'] button.rollback").await;
        let dialog = b.wait_text("dialog[open] .confirm-text", "s1").await;
        for part in ["main", "s1", "taken", s.dir.to_str().unwrap()] {
            assert!(dialog.contains(part), "the dialog does not name {part}: {dialog}");
        }
        b.screenshot("rollback-dialog").await;
        b.click("dialog[open] button.confirm").await;

        let row = b.wait_text("#rollback-report tr[data-table='workspace_items']", "changed").await;
        assert!(row.contains("workspace_items 0 5"), "{row}");
        b.wait_text("#result", "now holds snapshot s1").await;
        assert_eq!(s.items().await, 5, "rows are back");
        assert!(b.c.find(fantoccini::Locator::Css("table.checks tr.fail")).await.is_err());
        b.screenshot("rollback-report").await;

        b.click("#undo-submit").await;
        let row = b.wait_text("#rollback-report tr[data-table='workspace_items']", "changed").await;
        assert!(row.contains("workspace_items 5 0"), "{row}");
        assert_eq!(s.items().await, 0, "undo returns to the state before the rollback");
    });
}

#[test]
fn the_logs_page_shows_a_line_written_after_it_opened() {
    let s = console_stack();
    rt().block_on(async {
        let b = Browser::start().await;
        b.login(&s).await;
        b.c.goto(&format!(
            "{}/logs?service=workspace-api",
            s.console_origin()
        ))
        .await
        .unwrap();
        b.wait_for("pre#log").await;
        let marker = format!("written-after-the-page-opened-{}", std::process::id());
        assert!(!b.wait_text("pre#log", "").await.contains(&marker));
        // Appended as a service appends to its log.
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(s.dir.join("logs/workspace-api.log"))
            .unwrap();
        writeln!(log, "{{\"message\":\"{marker}\"}}").unwrap();
        drop(log);
        b.wait_text("pre#log", &marker).await;
        b.screenshot("logs").await;
    });
}
