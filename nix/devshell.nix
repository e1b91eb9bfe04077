# `nix develop`: the project's Rust toolchain, PostgreSQL, the Nix-built Neon (on PATH and in
# WSCTL_NEON_DIR, so `wsctl up --backend neon` finds it), cargo-nextest and docker-compose.
# `nix develop .#light` is the same without Neon, for when only the Rust side matters
# (the default shell builds Neon from source the first time, which takes hours).
{
  lib,
  craneLib,
  postgresql_17,
  cargo-nextest,
  docker-compose,
  curl,
  jq,
  # Not called `neon`: callPackage would fill that from nixpkgs (the WebDAV library).
  neonDist ? null,
}:

craneLib.devShell (
  {
    packages = [
      postgresql_17
      cargo-nextest
      docker-compose
      curl
      jq
    ]
    ++ lib.optional (neonDist != null) neonDist;

    WSCTL_PG_BIN = "${postgresql_17}/bin";

    shellHook = ''
      echo "Workspace Stack dev shell: $(cargo --version), PostgreSQL ${postgresql_17.version}"
      ${
        if neonDist != null then
          ''echo "  Neon: $WSCTL_NEON_DIR (wsctl up --backend neon)"''
        else
          ''echo "  no Neon here (use the default shell for it); wsctl up uses PostgreSQL"''
      }
      echo "  cargo nextest run | wsctl up | wsctl test | wsctl down"
    '';
  }
  // lib.optionalAttrs (neonDist != null) { WSCTL_NEON_DIR = "${neonDist}"; }
)
