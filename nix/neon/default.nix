# Neon built from source, in the order its build needs:
#   PostgreSQL 14-17 (Neon's fork) -> Rust binaries and libcommunicator (crane; postgres_ffi
#   runs bindgen over all four majors' headers) -> Neon's extensions installed into a runtime
#   copy of each major (v17 links the communicator; v14-v16 do not wait for Rust)
#   -> `neon`: the directory layout wsctl and the pageserver expect.
#
# No libwalproposer: at 6a35a3e9 the `walproposer` crate (libs/walproposer, the only user of
# `make walproposer-lib`) is a [dev-dependencies] entry of safekeeper/Cargo.toml and of no
# other package, so `cargo build -p safekeeper ...` never compiles it.
{
  lib,
  callPackage,
  runCommand,
  craneLib,
  neonSrc,
}:

let
  sources = import ./sources.nix;
  version = sources.neonVersion;
  neonRev = neonSrc.rev;

  postgres = lib.mapAttrs (
    v: pin:
    callPackage ./postgres.nix {
      major = lib.removePrefix "v" v;
      inherit pin;
    }
  ) sources.postgres;

  rust = callPackage ./rust.nix {
    inherit
      craneLib
      neonSrc
      neonRev
      version
      sources
      postgres
      ;
  };

  runtime = lib.mapAttrs (
    v: pg:
    callPackage ./extensions.nix {
      inherit neonSrc;
      postgres = pg;
      neonRust = if v == "v17" then rust else null;
    }
  ) postgres;

  # The layout `wsctl --neon-dir` / WSCTL_NEON_DIR reads, which is also Neon's own
  # (neon_distrib_dir = bin/, pg_distrib_dir = pg_install/):
  #   bin/{storage_broker,safekeeper,pageserver,compute_ctl,...}
  #   pg_install/v14 .. v17   (each a full PostgreSQL tree with Neon's extensions)
  neon =
    runCommand "neon-${version}"
      {
        passthru = {
          inherit
            postgres
            rust
            runtime
            ;
          pgDistrib = "pg_install";
        };
        meta = rust.meta // {
          description = "Neon (pageserver, safekeeper, storage_broker, compute_ctl) with PostgreSQL 14-17";
        };
      }
      (
        ''
          mkdir -p $out/bin $out/pg_install
          for b in ${rust}/bin/*; do
            ln -s "$b" $out/bin/
          done
        ''
        + lib.concatStrings (lib.mapAttrsToList (v: pg: "ln -s ${pg} $out/pg_install/${v}\n") runtime)
      );
in
{
  inherit
    postgres
    rust
    runtime
    neon
    ;
}
