# This repository's crate (library, wsctl, workspace-api) with crane, following crane's
# quick-start layout: one dependency-only build (`cargoArtifacts`) shared by the package,
# clippy and nextest, plus a rustfmt check that needs no build at all.
{
  lib,
  pkgs,
  craneLib,
  postgresql_17,
  root,
  rev ? "unknown",
}:

let
  # Cargo sources plus what the crate embeds with include_str!: the SQL migrations and the
  # compose files (wsctl writes them out for `up --containers`); the container tests' files.
  src = lib.fileset.toSource {
    root = root;
    fileset = lib.fileset.unions [
      (craneLib.fileset.commonCargoSources root)
      (root + "/src/db/migrations")
      (root + "/compose")
      (root + "/tests/containers")
    ];
  };

  commonArgs = {
    inherit src;
    pname = "workspace-stack";
    version = "0.1.0";
    strictDeps = true;
  };

  cargoArtifacts = craneLib.buildDepsOnly commonArgs;

  # The tests start their own PostgreSQL (initdb/postgres from WSCTL_PG_BIN) as the build
  # user; tests/neon runs wsctl against the stand-in built from examples/neon_standin.rs,
  # which they expect in target/<profile>/examples/.
  # The sandbox has no container engine: tests/containers are skipped there (they say so)
  # and the compose project is tested by checks-vm.compose-vm instead.
  # Every other program the tests run comes from nix/test-programs.nix (checked against the
  # sources by .ci/check-test-programs); the sandbox has nothing else on PATH.
  testPrograms = import ./test-programs.nix;
  testEnv = {
    nativeBuildInputs = map (name: pkgs.${name}) (lib.attrNames testPrograms.packages);
    WSCTL_PG_BIN = "${postgresql_17}/bin";
    WSCTL_SKIP_CONTAINER_TESTS = "1";
  };
in
{
  package = craneLib.buildPackage (
    commonArgs
    // {
      inherit cargoArtifacts;
      # Read by build.rs for `wsctl --version`; only here, so a new commit does not rebuild
      # the dependencies (cargoArtifacts) or re-run clippy and the tests.
      WSCTL_COMMIT = rev;
      # Tests run once, in the nextest check.
      doCheck = false;
      meta = {
        description = "wsctl and the Workspace API";
        license = lib.licenses.mit;
        mainProgram = "wsctl";
      };
    }
  );

  clippy = craneLib.cargoClippy (
    commonArgs
    // {
      inherit cargoArtifacts;
      cargoClippyExtraArgs = "--all-targets -- --deny warnings";
    }
  );

  fmt = craneLib.cargoFmt commonArgs;

  # nextest runs each test in its own process; .config/nextest.toml (in `src`: crane's
  # commonCargoSources keeps every *.toml) serialises the tests that a static lock
  # serialises under `cargo test`.
  nextest = craneLib.cargoNextest (
    commonArgs
    // testEnv
    // {
      inherit cargoArtifacts;
      preCheck = ''
        cargo build --locked --examples ''${CARGO_PROFILE:+--profile $CARGO_PROFILE}
      '';
    }
  );

  inherit cargoArtifacts;
}
