# Neon built from source, in the order its build needs:
#   PostgreSQL 14-17 (Neon's fork) -> libwalproposer (C, against 17) -> Rust binaries and
#   libcommunicator (crane) -> Neon's extensions installed into a runtime copy of each major
#   -> `neon`: the directory layout wsctl and the pageserver expect.
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

  walproposer = callPackage ./walproposer.nix {
    inherit neonSrc version;
    postgres = postgres.v17;
  };

  rust = callPackage ./rust.nix {
    inherit
      craneLib
      neonSrc
      neonRev
      version
      sources
      postgres
      walproposer
      ;
  };

  runtime = lib.mapAttrs (
    _: pg:
    callPackage ./extensions.nix {
      inherit neonSrc;
      postgres = pg;
      neonRust = rust;
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
            walproposer
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
    walproposer
    rust
    runtime
    neon
    ;
}
