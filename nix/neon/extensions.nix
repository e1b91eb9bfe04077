# A runtime tree for one PostgreSQL major: a copy of the server build with Neon's extensions
# installed into it, which is what pg_distrib_dir/vNN must be (the pageserver starts
# vNN/bin/postgres --wal-redo, which loads neon_walredo from that tree's lib dir; the compute
# preloads `neon`). A copy rather than symlinks, because PostgreSQL resolves its own binary's
# real path to find lib/ and share/; pg_config does the same, so PGXS installs into this copy.
#
# Per major, as in Neon's images: v14-v16 get the storage-side modules (neon_rmgr,
# neon_walredo); v17 gets all of pgxn/ (neon, neon_utils, neon_test_utils, neon_rmgr,
# neon_walredo). Only `neon` links the communicator (pgxn/neon/Makefile at 6a35a3e9), so only
# v17 needs Neon's Rust build (neonRust); v14-v16 build as soon as their PostgreSQL is done.
{
  lib,
  stdenv,
  writeShellScriptBin,
  patchelf,
  removeReferencesTo,
  curl,
  libseccomp,
  neonSrc,
  postgres,
  # Required for v17 (`make install` builds `neon`); must be null for v14-v16.
  neonRust ? null,
}:

let
  major = postgres.major;
  withCommunicator = major == "17";
  target = if withCommunicator then "install" else "install-storage";

  # pgxn/neon/Makefile always runs `cargo build` for the communicator (its targets are phony).
  # libcommunicator.a and its header were already built with the rest of Neon's Rust code,
  # so cargo here is a no-op stand-in rather than a second compile of the workspace.
  cargoStub = writeShellScriptBin "cargo" ''
    echo "neon extensions: using the communicator from ${neonRust} (cargo $*)" >&2
  '';
in
assert lib.assertMsg (withCommunicator == (neonRust != null))
  "extensions.nix: neonRust is needed for v17 (the `neon` extension) and only there (v${major})";
stdenv.mkDerivation {
  pname = "postgresql-neon-v${major}-runtime";
  inherit (postgres) version;
  src = neonSrc;

  strictDeps = true;
  nativeBuildInputs = [
    patchelf
    removeReferencesTo
  ]
  ++ lib.optional withCommunicator cargoStub;
  buildInputs = [
    curl
    libseccomp
  ];

  dontConfigure = true;

  buildPhase = ''
    runHook preBuild

    cp -r ${postgres}/. $out
    chmod -R u+w $out

  ''
  + lib.optionalString withCommunicator ''
    cp ${neonRust}/include/communicator_bindings.h pgxn/neon/communicator/
  ''
  + ''
    # The same invocation as Neon's compute image build, pointed at the copy.
    make -C pgxn ${target} \
      PG_CONFIG=$out/bin/pg_config \
      ${lib.optionalString withCommunicator "NEON_CARGO_ARTIFACT_TARGET_DIR=${neonRust}/lib"} \
      BUILD_TYPE=release

    runHook postBuild
  '';

  # Everything already went to $out; point the copied binaries' RUNPATH at the copy's own lib
  # so the runtime closure does not also carry the build tree. The script is tested on real
  # ELF files by .ci/check-relocate-rpath.
  installPhase = ''
    runHook preInstall
    bash ${../scripts/relocate-rpath.sh} ${postgres} $out $out
    runHook postInstall
  '';

  # Remaining mentions of the build tree (compiled-in install paths, pgxs Makefile) are
  # not used at runtime: PostgreSQL computes its paths relative to the binary.
  postFixup = ''
    find $out -type f -exec remove-references-to -t ${postgres} '{}' +
  '';

  disallowedReferences = [ postgres ];

  passthru = {
    inherit major;
    unwrapped = postgres;
  };

  meta = postgres.meta // {
    description = "Neon's PostgreSQL ${postgres.version} with Neon's extensions (${target})";
  };
}
