//! The web console in a real browser: Debian's chromium, headless, driven over WebDriver
//! (chromedriver) against a real stack on real PostgreSQL. Screenshots of each page go to
//! target/console-screenshots/.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

#[path = "../common/mod.rs"]
mod common;

mod browser;
mod refusals;

use common::{text, Stack};

/// A stack with its console, up.
fn console_stack() -> Stack {
    let s = Stack::new("console-test-");
    let o = s.up_with(&[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("Console        http://127.0.0.1:"),
        "{}",
        text(&o)
    );
    s
}

impl Stack {
    /// The login URL `wsctl console` prints.
    fn console_url(&self) -> String {
        let o = self.wsctl(&["console"]);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    }

    fn console_origin(&self) -> String {
        let url = self.console_url();
        url.split("/login").next().unwrap().to_string()
    }

    /// Rows of the items table, through SQL.
    async fn items(&self) -> i64 {
        self.sql_count("SELECT count(*) FROM workspace.workspace_items")
            .await
    }

    async fn sql_count(&self, sql: &str) -> i64 {
        let client = self.sql().await;
        client.query_one(sql, &[]).await.unwrap().get(0)
    }

    async fn sql(&self) -> tokio_postgres::Client {
        use workspace_stack::stack::state::StateDir;
        let dir = StateDir {
            root: self.dir.clone(),
        };
        let state = dir.load().unwrap().unwrap();
        let config =
            workspace_stack::stack::connection::pg_config(&dir, &state, &state.database).unwrap();
        workspace_stack::db::connect(&config).await.unwrap()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// chromedriver on a free port, and a headless chromium session through it.
pub struct Browser {
    driver: Child,
    pub c: Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver's chromium would outlive it (re-parented to init): end its whole group.
        if let Ok(pid) = i32::try_from(self.driver.id()) {
            // SAFETY: a plain kill(2) of the process group this test started.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start() -> Browser {
        let port = common::free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; .ci/run installs it)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                // Root in CI: chromium's sandbox needs --no-sandbox there.
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", "--window-size=1280,1000"],
            }
        });
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let c = ClientBuilder::new(connector)
            .capabilities(caps.as_object().unwrap().clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a chromium session");
        Browser { driver, c }
    }

    /// The element, once it is there (the page may still be updating).
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(e) = self.c.find(Locator::Css(css)).await {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no {css} on {:?}",
                self.c.current_url().await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the element's text contains `needle`; returns the text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = match self.c.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never contained {needle:?}; it says {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Clicks the element. A live update may replace it between finding and clicking
    /// (StaleElementReference): then it is found again.
    pub async fn click(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.wait_for(css).await.click().await {
                Ok(_) => return,
                Err(fantoccini::error::CmdError::Standard(e))
                    if e.error == fantoccini::error::ErrorStatus::StaleElementReference
                        && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("clicking {css}: {e}"),
            }
        }
    }

    /// Saves a PNG of the window as target/console-screenshots/<name>.png.
    pub async fn screenshot(&self, name: &str) {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Logs in with the printed URL; the token must be gone from the address bar after.
    pub async fn login(&self, s: &Stack) {
        self.c.goto(&s.console_url()).await.unwrap();
        let url = self.c.current_url().await.unwrap();
        assert_eq!(url.path(), "/", "{url}");
        assert!(url.query().is_none(), "the token stayed in the URL: {url}");
    }
}
