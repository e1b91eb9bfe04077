//! Several wsctl processes changing one stack at once: each one's change must reach
//! state.json (state.lock makes them take turns instead of overwriting each other).

use std::process::{Command, Stdio};

use serde_json::Value;

use super::{text, wsctl_bin, Stack};

/// Six `branch create` processes at once: the odd ones with a preview API (their preview is
/// saved in state.json), the even ones protected (their policy is). Before state.lock each
/// saved the state.json it had read at its start, dropping the others' previews and records.
#[test]
fn concurrent_branch_creates_all_reach_state_json() {
    let s = super::stack();
    let o = s.up();
    assert!(o.status.success(), "{}", text(&o));
    let names: Vec<String> = (1..=6).map(|i| format!("b{i}")).collect();
    let children: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let extra = if i % 2 == 0 { "--api" } else { "--protect" };
            Command::new(wsctl_bin())
                .arg("--state-dir")
                .arg(&s.dir)
                .args(["branch", "create", name, extra])
                .env_remove("WSCTL_STATE_DIR")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Collected rather than asserted one by one, so a failure says how many of six failed
    // and how many of the rest lost their change.
    let mut failed = Vec::new();
    for (name, child) in names.iter().zip(children) {
        let o = child.wait_with_output().unwrap();
        if !o.status.success() {
            failed.push(format!("branch create {name}: {}", text(&o)));
        }
    }

    let o = s.wsctl(&["branch", "list", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let rows: Value = serde_json::from_slice(&o.stdout).unwrap();
    let listed = |n: &str| rows.as_array().unwrap().iter().any(|r| r["name"] == n);
    let state: Value =
        serde_json::from_slice(&std::fs::read(s.dir.join("state.json")).unwrap()).unwrap();
    let created = |n: &str| {
        state["lifecycle"]["history"]
            .as_array()
            .is_some_and(|h| h.iter().any(|e| e["name"] == n && e["event"] == "created"))
    };
    let previewed = |n: &str| {
        state["previews"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x["branch"] == n))
    };
    let protected = |n: &str| state["lifecycle"]["branches"][n]["protected"] == true;
    let mut lost = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if failed
            .iter()
            .any(|f| f.starts_with(&format!("branch create {name}:")))
        {
            continue;
        }
        let kept = if i % 2 == 0 {
            previewed(name)
        } else {
            protected(name)
        };
        if !(listed(name) && created(name) && kept) {
            lost.push(name.as_str());
        }
    }
    assert!(
        failed.is_empty() && lost.is_empty(),
        "{} of {} branch creates failed; {} of the {} that succeeded lost their change to \
         state.json: {lost:?}\n{}\n{state:#}",
        failed.len(),
        names.len(),
        lost.len(),
        names.len() - failed.len(),
        failed.join("\n")
    );
    // Every preview the state names runs.
    let st = s.status();
    for name in names.iter().step_by(2) {
        assert!(
            st["services"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["name"] == format!("workspace-api-{name}") && x["alive"] == true),
            "no preview API for {name}: {st}"
        );
    }
    // Nobody holds the lock now, and its file names no holder.
    let lock = std::fs::read_to_string(s.dir.join("state.lock")).unwrap();
    assert!(lock.is_empty(), "{lock}");
}

/// A writer waits for the holder, gives up at WSCTL_STATE_LOCK_TIMEOUT naming it, and a holder
/// killed with -9 holds nothing: the kernel released its flock, its stale pid misleads no one.
#[test]
fn a_stopped_holder_is_named_and_a_killed_one_releases_the_lock() {
    let s = super::stack();
    let o = s.up();
    assert!(o.status.success(), "{}", text(&o));
    let lock = s.dir.join("state.lock");
    let (mut holder, pid) = stopped_holder(&s, &lock);
    let waited = std::time::Instant::now();
    let mut blocked = Command::new(wsctl_bin());
    blocked
        .arg("--state-dir")
        .arg(&s.dir)
        .args(["branch", "create", "blocked"])
        .env("WSCTL_STATE_LOCK_TIMEOUT", "3");
    // On a terminal, as a user would run it: the wait is announced there.
    let (ok, err) = on_terminal(blocked);
    assert!(!ok, "{err}");
    assert!(
        waited.elapsed() >= std::time::Duration::from_secs(3),
        "{err}"
    );
    let named = format!(
        "pid {pid}: `wsctl --state-dir {} branch create held",
        s.dir.display()
    );
    assert_eq!(
        err.matches("waiting for another wsctl operation on the stack in")
            .count(),
        1,
        "said once: {err}"
    );
    assert!(
        err.contains(&format!("({named}"))
            && err.contains("has held")
            && err.contains("WSCTL_STATE_LOCK_TIMEOUT"),
        "{err}"
    );
    // Readers do not wait for it.
    let o = Command::new(wsctl_bin())
        .arg("--state-dir")
        .arg(&s.dir)
        .args(["branch", "list", "--json"])
        .env("WSCTL_STATE_LOCK_TIMEOUT", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));

    unsafe { libc::kill(pid, libc::SIGKILL) };
    holder.wait().unwrap();
    assert!(
        std::fs::read_to_string(&lock)
            .unwrap()
            .contains(&format!("{pid}")),
        "the killed holder's record is still there (nothing cleared it)"
    );
    let o = Command::new(wsctl_bin())
        .arg("--state-dir")
        .arg(&s.dir)
        .args(["branch", "create", "after"])
        .env("WSCTL_STATE_LOCK_TIMEOUT", "5")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let state: Value =
        serde_json::from_slice(&std::fs::read(s.dir.join("state.json")).unwrap()).unwrap();
    assert!(
        state["lifecycle"]["history"]
            .as_array()
            .is_some_and(|h| h.iter().any(|e| e["name"] == "after")),
        "{state:#}"
    );
}

/// A `wsctl branch create held… --api` stopped (SIGSTOP) while it holds state.lock. The
/// holder records itself once it has the flock and empties the file as it lets go, so its
/// pid in the file after the stop means it is stopped holding it; else it is let finish and
/// another one tried.
fn stopped_holder(s: &Stack, lock: &std::path::Path) -> (std::process::Child, i32) {
    for attempt in 0..10 {
        let mut child = Command::new(wsctl_bin())
            .arg("--state-dir")
            .arg(&s.dir)
            .args(["branch", "create", &format!("held{attempt}"), "--api"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let holds = || std::fs::read_to_string(lock).is_ok_and(|t| t.contains(&format!("{pid}")));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !holds()
            && std::time::Instant::now() < deadline
            && child.try_wait().unwrap().is_none()
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        if holds() {
            return (child, pid);
        }
        unsafe { libc::kill(pid, libc::SIGCONT) };
        child.wait().unwrap();
    }
    panic!("no wsctl was caught holding state.lock in ten tries");
}

/// Runs `cmd` with its stderr on a pseudo-terminal; whether it succeeded, and what it wrote
/// there.
fn on_terminal(mut cmd: Command) -> (bool, String) {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two descriptors we then own.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both are open and ours alone.
    let (mut master, slave) = unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    };
    let status = {
        cmd.stdout(Stdio::null()).stderr(slave);
        cmd.status().unwrap()
    };
    drop(cmd); // closes the last slave descriptor: reading ends at what it wrote
    let mut out = Vec::new();
    let _ = master.read_to_end(&mut out); // ends in EIO once the slave is closed
    (status.success(), String::from_utf8_lossy(&out).into_owned())
}
