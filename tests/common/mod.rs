//! What the end-to-end test crates (tests/wsctl, tests/containers) share: the real wsctl
//! binary, free ports, and a stack in a temporary state directory that is purged when dropped.
//! Each crate includes this file as a module and adds the methods it needs to `Stack`.
#![allow(dead_code)] // not every crate uses every helper

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub fn wsctl_bin() -> &'static str {
    env!("CARGO_BIN_EXE_wsctl")
}

pub fn free_port() -> u16 {
    workspace_stack::stack::ports::free_port().expect("a free loopback port")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

/// A stack with its own state directory and ports.
pub struct Stack {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub pg_port: u16,
    pub api_port: u16,
}

impl Stack {
    pub fn new(prefix: &str) -> Stack {
        let tmp = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
        // PostgreSQL runs as another account when the tests run as root: let it in.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let dir = tmp.path().join("state");
        Stack {
            _tmp: tmp,
            dir,
            pg_port: free_port(),
            api_port: free_port(),
        }
    }

    pub fn wsctl(&self, args: &[&str]) -> Output {
        Command::new(wsctl_bin())
            .arg("--state-dir")
            .arg(&self.dir)
            .args(args)
            .env_remove("WSCTL_STATE_DIR")
            .output()
            .unwrap()
    }

    /// `wsctl up` on this stack's ports, plus `extra` flags.
    pub fn up_with(&self, extra: &[&str]) -> Output {
        let (pg, api) = (self.pg_port.to_string(), self.api_port.to_string());
        let mut args = vec!["up", "--pg-port", &pg, "--api-port", &api];
        args.extend_from_slice(extra);
        self.wsctl(&args)
    }

    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if self.dir.join("state.json").exists() {
            let _ = self.wsctl(&["down", "--purge", "--yes"]);
        }
    }
}
