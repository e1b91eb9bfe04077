# Every external program the test suites run — directly, through wsctl, or through the Neon
# stand-in (examples/neon_standin.rs) — by the nixpkgs package that provides it.
# checks.nextest (nix/workspace-stack.nix) puts exactly these packages on PATH, and
# .ci/check-test-programs fails when the Rust sources under src/, tests/ and examples/ name a
# program (Command::new("…"), .tool("…"), a PostgreSQL program joined to a bin dir, duct's
# cmd!("…")) that is missing here. Plain data, so that check can read it without nixpkgs.
{
  packages = {
    # WSCTL_PG_BIN points here: the tests' clusters, wsctl's import backup, the stand-in's
    # compute (initdb, postgres, psql, pg_basebackup); pg_ctl stops computes as neon_local does.
    postgresql_17 = [
      "postgres"
      "pg_ctl"
      "initdb"
      "psql"
      "pg_dump"
      "pg_basebackup"
    ];
    # tests/wsctl: counts the supervisors of a stack.
    procps = [ "pgrep" ];
    # tests/wsctl/import.rs (sha256sum -c), the stand-in (cp), and the PostgreSQL watchdog
    # script of tests/api/helpers.rs (sleep, head, rm).
    coreutils = [
      "sha256sum"
      "cp"
      "sleep"
      "head"
      "rm"
      # tests/wsctl/lifecycle.rs: Ctrl-C during a first start (`timeout -s INT`).
      "timeout"
    ];
    # tests/wsctl/cli.rs: `wsctl --version` names the checkout's commit.
    git = [ "git" ];
    # tests/console drive the browser through WebDriver (chromedriver starts chromium).
    chromedriver = [ "chromedriver" ];
    # The watchdog's `sh -c`.
    bash = [ "sh" ];
  };

  # Named in the sources but never run by the tests in the check, and why.
  notRun = {
    pg_config = "wsctl asks it for the bin dir only when WSCTL_PG_BIN is unset; the check sets it";
    xdg-open = "only `wsctl console --open` runs it; no test passes --open";
  };
}
