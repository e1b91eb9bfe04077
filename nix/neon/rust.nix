# Neon's Rust binaries, built with crane and the toolchain from Neon's rust-toolchain.toml
# (craneLib is passed in already overridden with it).
#
# Build inputs Neon's build scripts expect:
#   - POSTGRES_INSTALL_DIR with vNN/bin/pg_config for all four majors: postgres_ffi runs
#     bindgen over each major's server headers;
#   - protoc (prost/tonic), libclang (bindgen), GIT_VERSION (otherwise `git describe`).
# Not build/walproposer-lib: libs/walproposer, which links it, is only a dev-dependency of
# safekeeper, and neither `cargo build` here nor buildDepsOnly (doCheck = false, so no
# --all-targets) compiles dev-dependencies.
{
  lib,
  craneLib,
  runCommand,
  pkg-config,
  protobuf,
  rustPlatform,
  openssl,
  neonSrc,
  neonRev,
  version,
  sources,
  postgres,
}:

let
  # pg_install/vNN -> each PostgreSQL build; pg_config follows the symlink to the real tree.
  pgInstall = runCommand "neon-pg-install-for-build" { } (
    ''
      mkdir -p $out
    ''
    + lib.concatStrings (lib.mapAttrsToList (v: pg: "ln -s ${pg} $out/${v}\n") postgres)
  );

  commonArgs = {
    pname = "neon";
    # pname/version given explicitly so crane does not read Cargo.toml at evaluation time.
    inherit version;
    # The whole tree: build scripts need C headers and files crane's source filter drops.
    src = neonSrc;
    strictDeps = true;

    # Vendored once for both derivations; git dependencies pinned in sources.nix.
    cargoVendorDir = craneLib.vendorCargoDeps {
      src = neonSrc;
      outputHashes = sources.cargoOutputHashes;
    };

    # Only what the stack runs (pageserver, safekeeper, storage_broker, compute_ctl) plus the
    # communicator static library that the `neon` extension links.
    cargoExtraArgs = "--locked -p pageserver -p safekeeper -p storage_broker -p compute_tools -p communicator";

    nativeBuildInputs = [
      pkg-config
      protobuf
      rustPlatform.bindgenHook
    ];
    buildInputs = [ openssl ];

    GIT_VERSION = neonRev;
    BUILD_TAG = "nix-${version}";
    # bindgen output depends on this seed; a fixed value keeps the dependency artifacts valid
    # for the final build (crane FAQ: "rebuilds-bindgen").
    NIX_OUTPATH_USED_AS_RANDOM_SEED = "neonneonne";

    # Neon's own test suite needs a running stack (neon_local, Python fixtures).
    doCheck = false;
  };

  # One dependency-only build (crane replaces the workspace's own sources with stubs here,
  # so PostgreSQL is not needed yet).
  cargoArtifacts = craneLib.buildDepsOnly commonArgs;
in
craneLib.buildPackage (
  commonArgs
  // {
    inherit cargoArtifacts;
    POSTGRES_INSTALL_DIR = pgInstall;

    # crane installs bin/* and lib/libcommunicator.a from cargo's build log; the C header
    # generated next to the communicator sources is needed by the extension build too.
    postInstall = ''
      mkdir -p $out/include
      cp pgxn/neon/communicator/communicator_bindings.h $out/include/
    '';

    passthru = { inherit cargoArtifacts; };

    meta = {
      description = "Neon storage and compute binaries (pageserver, safekeeper, storage_broker, compute_ctl)";
      homepage = "https://github.com/neondatabase/neon";
      license = lib.licenses.asl20;
      platforms = lib.platforms.linux;
      mainProgram = "pageserver";
    };
  }
)
