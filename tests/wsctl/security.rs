//! The attacks of issue 13 on a stack started as root, each performed for real by the account
//! that would attempt it: the database account (`postgres`, which anyone holding the database
//! password can act as through `COPY … TO PROGRAM`) or another local user (`nobody`). Each test
//! asserts that the attack achieves nothing. Without root there is no other account to attack
//! from, and the tests say so and return.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use workspace_stack::stack::postgres::RunAs;

use super::{free_port, http, text, wait_until, wsctl_bin};

/// The account PostgreSQL runs as, or `None` (test skipped) when we are not root.
fn db_account() -> Option<RunAs> {
    let account = RunAs::unprivileged().unwrap();
    if account.is_none() {
        eprintln!("skipped: the attacks need root and another account to attack from");
    }
    account
}

fn nobody() -> RunAs {
    let name = std::ffi::CString::new("nobody").unwrap();
    // SAFETY: getpwnam returns static storage or null; the ids are copied out at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(!pw.is_null(), "the tests need a `nobody` account");
    // SAFETY: checked non-null.
    unsafe {
        RunAs {
            uid: (*pw).pw_uid,
            gid: (*pw).pw_gid,
        }
    }
}

/// Runs a shell script as `user`: the attacker's step.
fn as_account(user: RunAs, script: &str) -> Output {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .uid(user.uid)
        .gid(user.gid)
        .current_dir("/")
        .output()
        .unwrap()
}

fn chown(path: &Path, user: RunAs) {
    std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid)).unwrap();
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().mode() & 0o7777
}

#[test]
fn symlinks_the_database_account_plants_do_not_redirect_roots_writes() {
    let Some(pg) = db_account() else { return };
    let s = super::stack();
    assert!(s.up().status.success());
    assert!(s.wsctl(&["down"]).status.success());

    // Root's files the attacker wants: 0600, in a directory only root can enter.
    let victims = tempfile::tempdir().unwrap();
    fs::set_permissions(victims.path(), fs::Permissions::from_mode(0o700)).unwrap();
    let victim = |n: &str| victims.path().join(n);
    for n in ["log", "supervisor", "pwfile"] {
        fs::write(victim(n), "root's secret\n").unwrap();
        fs::set_permissions(victim(n), fs::Permissions::from_mode(0o600)).unwrap();
    }
    let (logs, pg_dir) = (s.dir.join("logs"), s.dir.join("postgres"));
    // Symlinks where root opens logs and (before) wrote initdb's password file, and a removed
    // PG_VERSION so that the next `up` runs initdb again.
    let attack = format!(
        "rm -f {l}/postgres.log; ln -s {v1} {l}/postgres.log; \
         rm -f {l}/supervisor.log; ln -s {v2} {l}/supervisor.log; \
         ln -s {v3} {p}/data.pwfile; rm -f {p}/data/PG_VERSION",
        l = logs.display(),
        p = pg_dir.display(),
        v1 = victim("log").display(),
        v2 = victim("supervisor").display(),
        v3 = victim("pwfile").display(),
    );
    as_account(pg, &attack);
    let o = s.up();
    for n in ["log", "supervisor", "pwfile"] {
        let meta = fs::metadata(victim(n)).unwrap();
        assert_eq!(
            (meta.uid(), meta.mode() & 0o777),
            (0, 0o600),
            "root's file {n} was handed over"
        );
        assert_eq!(
            fs::read_to_string(victim(n)).unwrap(),
            "root's secret\n",
            "root wrote into its file {n} through a planted symlink"
        );
    }
    assert!(o.status.success(), "{}", text(&o));
    // The account has nowhere to plant anything that root opens.
    for d in [&s.dir, &logs, &pg_dir, &s.dir.join("secrets")] {
        let o = as_account(pg, &format!("touch {}/planted", d.display()));
        assert!(
            !o.status.success(),
            "the database account can write in {d:?}"
        );
    }
    assert_eq!(mode(&logs), 0o700);
    assert!(!pg_dir.join("data.pwfile").exists());
}

#[test]
fn a_forged_postmaster_pid_does_not_make_wsctl_signal_another_process() {
    let Some(pg) = db_account() else { return };
    let s = super::stack();
    assert!(s.up().status.success());
    assert!(s.wsctl(&["down"]).status.success());
    // A process of root's that the database account would like to see killed.
    let mut bystander = Command::new("sleep").arg("600").spawn().unwrap();
    let data = s.dir.join("postgres/data");
    let forge = format!(
        "printf '%s\\n%s\\n' {} {} > {}/postmaster.pid",
        bystander.id(),
        data.display(),
        data.display()
    );
    let o = as_account(pg, &forge);
    assert!(o.status.success(), "{}", text(&o));

    let o = s.wsctl(&["down"]); // no supervisor: the "left behind" PostgreSQL path
    assert!(
        bystander.try_wait().unwrap().is_none(),
        "`down` signalled pid {}: {}",
        bystander.id(),
        text(&o)
    );
    let o = s.up(); // the stale-postmaster cleanup
    assert!(
        bystander.try_wait().unwrap().is_none(),
        "`up` signalled pid {}: {}",
        bystander.id(),
        text(&o)
    );
    assert!(o.status.success(), "{}", text(&o));
    bystander.kill().unwrap();
    bystander.wait().unwrap();
}

/// Fake PostgreSQL programs that record that they ran (the attacker's `pg_bin`).
fn evil_bin(dir: &Path, marker: &Path) {
    fs::create_dir_all(dir).unwrap();
    for tool in ["initdb", "postgres", "psql", "pg_dump"] {
        let path = dir.join(tool);
        fs::write(
            &path,
            format!("#!/bin/sh\necho \"$(id -u) $0\" >> {}\n", marker.display()),
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn config_files_state_dirs_and_programs_of_other_accounts_are_refused() {
    let Some(pg) = db_account() else { return };
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let marks = tmp.path().join("marks");
    fs::create_dir(&marks).unwrap();
    fs::set_permissions(&marks, fs::Permissions::from_mode(0o777)).unwrap();
    let evil = tmp.path().join("evil");
    evil_bin(&evil, &marks.join("ran"));
    for e in fs::read_dir(&evil).unwrap() {
        chown(&e.unwrap().path(), pg);
    }
    chown(&evil, pg);
    a_config_file_of_the_database_account_is_refused(tmp.path(), pg, &evil, &marks);
    a_state_directory_of_the_database_account_is_refused(tmp.path(), pg, &evil, &marks);
    a_world_writable_bin_directory_is_refused(tmp.path(), &marks);
}

/// `wsctl` in `cwd`, with nothing from our environment choosing its state or programs.
fn wsctl(cwd: &Path, args: &[&str]) -> Output {
    Command::new(wsctl_bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("WSCTL_STATE_DIR")
        .env_remove("WSCTL_PG_BIN")
        .output()
        .unwrap()
}

/// 1. A workspace-stack.toml the database account wrote in a directory above us.
fn a_config_file_of_the_database_account_is_refused(
    tmp: &Path,
    pg: RunAs,
    evil: &Path,
    marks: &Path,
) {
    let project = tmp.join("project");
    fs::create_dir_all(project.join("sub")).unwrap();
    let config = project.join("workspace-stack.toml");
    fs::write(
        &config,
        format!(
            "pg_bin = {:?}\npg_port = {}\napi_port = {}\n",
            evil,
            free_port(),
            free_port()
        ),
    )
    .unwrap();
    for p in [&project, &project.join("sub"), &config] {
        chown(p, pg);
    }
    let o = wsctl(&project.join("sub"), &["up"]);
    let stale = project.join(".workspace-stack");
    if stale.join("state.json").exists() {
        wsctl(&project, &["--state-dir", ".workspace-stack", "down"]);
    }
    assert!(
        !marks.join("ran").exists(),
        "the attacker's programs ran: {}",
        fs::read_to_string(marks.join("ran")).unwrap()
    );
    assert!(
        !o.status.success()
            && text(&o).contains(&config.display().to_string())
            && text(&o).contains("belongs to postgres"),
        "{}",
        text(&o)
    );
}

/// 2. A state directory the account made beforehand, naming its programs and password.
fn a_state_directory_of_the_database_account_is_refused(
    tmp: &Path,
    pg: RunAs,
    evil: &Path,
    marks: &Path,
) {
    let planted = tmp.join("planted");
    fs::create_dir_all(planted.join("secrets")).unwrap();
    let state = serde_json::json!({
        "version": 1, "backend": "postgres", "pg_port": free_port(), "api_port": free_port(),
        "database": "workspace", "superuser": "postgres", "pg_bin": evil,
    });
    fs::write(planted.join("state.json"), state.to_string()).unwrap();
    fs::write(planted.join("secrets/pg-password"), "chosen-by-attacker").unwrap();
    for p in [
        planted.clone(),
        planted.join("secrets"),
        planted.join("state.json"),
        planted.join("secrets/pg-password"),
    ] {
        chown(&p, pg);
    }
    let dir = planted.display().to_string();
    let o = wsctl(tmp, &["--state-dir", &dir, "psql", "-c", "SELECT 1"]);
    assert!(
        !marks.join("ran").exists(),
        "root ran the attacker's psql: {}",
        fs::read_to_string(marks.join("ran")).unwrap()
    );
    assert!(
        !o.status.success()
            && text(&o).contains("refusing the state directory")
            && text(&o).contains(&dir),
        "{}",
        text(&o)
    );
}

/// 3. A bin directory everyone can write (root's own, but anyone could swap its programs).
fn a_world_writable_bin_directory_is_refused(tmp: &Path, marks: &Path) {
    let shared = tmp.join("shared");
    evil_bin(&shared, &marks.join("ran"));
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
    let st = tmp.join("st").display().to_string();
    let (pg_port, api_port) = (free_port().to_string(), free_port().to_string());
    let o = wsctl(
        tmp,
        &[
            "--state-dir",
            &st,
            "up",
            "--pg-bin",
            &shared.display().to_string(),
            "--pg-port",
            &pg_port,
            "--api-port",
            &api_port,
        ],
    );
    assert!(
        !marks.join("ran").exists(),
        "programs from a world-writable directory ran: {}",
        fs::read_to_string(marks.join("ran")).unwrap()
    );
    assert!(
        !o.status.success() && text(&o).contains("other accounts can write"),
        "{}",
        text(&o)
    );
}

#[test]
fn purge_deletes_only_a_wsctl_state_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let precious = tmp.path().join("precious");
    fs::create_dir(&precious).unwrap();
    fs::write(precious.join("notes.txt"), "keep me").unwrap();
    let dir = precious.display().to_string();
    let o = Command::new(wsctl_bin())
        .args(["--state-dir", &dir, "down", "--purge", "--yes"])
        .output()
        .unwrap();
    assert!(
        precious.join("notes.txt").exists(),
        "purge deleted a directory that is not a stack's"
    );
    assert!(
        !o.status.success() && text(&o).contains("no state.json"),
        "{}",
        text(&o)
    );

    // A real stack directory with something else put in it is refused too, then purged once
    // that is gone.
    let s = super::stack();
    assert!(s.up().status.success());
    fs::write(s.dir.join("notes.txt"), "mine").unwrap();
    let o = s.wsctl(&["down", "--purge", "--yes"]);
    assert!(
        !o.status.success() && text(&o).contains("notes.txt") && s.dir.exists(),
        "{}",
        text(&o)
    );
    fs::remove_file(s.dir.join("notes.txt")).unwrap();
    let o = s.wsctl(&["down", "--purge", "--yes"]);
    assert!(o.status.success() && !s.dir.exists(), "{}", text(&o));
}

#[test]
fn the_api_runs_unprivileged_and_logs_are_private() {
    let Some(pg) = db_account() else { return };
    let s = super::stack();
    // The API binary in a directory only root can enter (a checkout under /root, say): the
    // supervisor runs a copy the database account can reach.
    let private = tempfile::tempdir().unwrap();
    fs::set_permissions(private.path(), fs::Permissions::from_mode(0o700)).unwrap();
    let api_bin = private.path().join("workspace-api");
    fs::copy(
        Path::new(wsctl_bin()).with_file_name("workspace-api"),
        &api_bin,
    )
    .unwrap();
    let o = Command::new(wsctl_bin())
        .arg("--state-dir")
        .arg(&s.dir)
        .args(["up", "--pg-port", &s.pg_port.to_string()])
        .args(["--api-port", &s.api_port.to_string()])
        .env("WSCTL_API_BIN", &api_bin)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let pid = s.pid_of("workspace-api");
    let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(exe.starts_with(s.dir.join("bin")), "{}", exe.display());
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .unwrap()
        .split_whitespace()
        .map(|u| u.parse::<u32>().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(uid, vec![pg.uid; 4], "the API runs as uid {uid:?}");
    let logs = s.dir.join("logs");
    assert_eq!(mode(&logs), 0o700);
    for e in fs::read_dir(&logs).unwrap() {
        let path = e.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    // Another local user reads none of them (they hold request URLs).
    let o = as_account(
        nobody(),
        &format!("cat {}/workspace-api.log", logs.display()),
    );
    assert!(!o.status.success());
}

/// The port squatter: `examples/pg_password_trap`, run as `nobody` from a copy it can reach.
struct Trap {
    child: Child,
    dir: tempfile::TempDir,
}

impl Trap {
    fn start(port: u16) -> Trap {
        let built = Path::new(wsctl_bin())
            .parent()
            .unwrap()
            .join("examples/pg_password_trap");
        assert!(
            built.exists(),
            "build the trap: cargo build --examples ({})",
            built.display()
        );
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let program = dir.path().join("trap");
        fs::copy(&built, &program).unwrap();
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        let user = nobody();
        chown(&out, user);
        let child = Command::new(&program)
            .args([&port.to_string(), &out.display().to_string(), "90"])
            .uid(user.uid)
            .gid(user.gid)
            .spawn()
            .unwrap();
        Trap { child, dir }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn wait_bound(&self) {
        wait_until("the trap to take the port", Duration::from_secs(20), || {
            self.out().join("bound").exists()
        });
    }

    fn captured(&self) -> String {
        fs::read_to_string(self.out().join("captured")).unwrap_or_default()
    }
}

impl Drop for Trap {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_server_asking_for_a_cleartext_password_gets_nothing() {
    let Some(_) = db_account() else { return };
    let s = super::stack();
    assert!(s.up().status.success());
    let port = free_port();
    let trap = Trap::start(port);
    trap.wait_bound();
    let from = format!("postgres://old:s3cret-pw@127.0.0.1:{port}/workspace");
    let o = s.wsctl(&["import", "--from", &from, "--no-backup"]);
    assert!(
        !trap.captured().contains("s3cret-pw"),
        "the fake server got the password"
    );
    assert!(
        !o.status.success() && text(&o).contains("cleartext"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_local_user_who_takes_the_port_after_a_crash_gets_no_password() {
    let Some(_) = db_account() else { return };
    let s = super::stack();
    assert!(s.up().status.success());
    let password = fs::read_to_string(s.dir.join("secrets/pg-password")).unwrap();
    // The trap waits for the port; PostgreSQL crashes; the trap takes the port before the
    // supervisor's restart can.
    let trap = Trap::start(s.pg_port);
    // SAFETY: a pid from status.json, of the stack's own PostgreSQL.
    unsafe { libc::kill(s.pid_of("postgres") as i32, libc::SIGKILL) };
    trap.wait_bound();
    // Everything that talks to the database: the health suite, psql, the API.
    let health = s.wsctl(&["test", "--json"]);
    let psql = s.wsctl(&["psql", "-c", "SELECT 1"]);
    let _ = http().get(format!("{}/api/items", s.api())).send();
    let captured = trap.captured();
    assert!(
        !captured.contains(password.trim()),
        "a local user captured the superuser's password ({} bytes captured)\nhealth: {}\npsql: {}",
        captured.len(),
        text(&health),
        text(&psql)
    );
    drop(trap);
    assert!(s.wsctl(&["down"]).status.success());
}
