# Everything the Neon build fetches besides the `neon` flake input itself.
#
# The PostgreSQL forks are the submodule commits recorded in Neon's tree at the pinned commit
# (vendor/postgres-v1x, also listed in vendor/revisions.json). GitHub tarballs and flake
# `github:` inputs leave submodules out, so each fork is fetched on its own by rev and hash.
{
  neonVersion = "0-unstable-2026-03-25";

  postgres = {
    v14 = {
      version = "14.18";
      rev = "2155cb165d05f617eb2c8ad7e43367189b627703";
      hash = "sha256-bPAHFkkNB0J9fimYJ2RYflN1zOGsAcOD0VHGfMEex7g=";
    };
    v15 = {
      version = "15.13";
      rev = "2aaab3bb4a13557aae05bb2ae0ef0a132d0c4f85";
      hash = "sha256-E+a7OsB7doDqGs9dwWhmD+fO1dgYB1nDvB33EDGl7gc=";
    };
    v16 = {
      version = "16.9";
      rev = "a42351fcd41ea01edede1daed65f651e838988fc";
      hash = "sha256-G1FsFBeVFxUotk4b6oAYPz/DCjXCnirXQBZA77eaeIg=";
    };
    v17 = {
      version = "17.5";
      rev = "1e01fcea2a6b38180021aa83e0051d95286d9096";
      hash = "sha256-/IjOnB8PUYpwqTmPPXhihSulIZsUf7uBx8HXSIlArM0=";
    };
  };

  # Hashes of the git dependencies in Neon's Cargo.lock, keyed the way crane keys them: by the
  # lock file's `source` string. crane fetches one checkout per repository URL (+ query), at
  # the rev of the first package of that group after sorting; for rust-postgres that is
  # postgres-protocol @ f3cf448f, which then also provides `postgres` (locked at 1f21e795).
  #
  # Two hashes are not known yet (the revs could not be fetched when this was written):
  #   rust-postgres      ?branch=neon#f3cf448febde5fd298071d54d568a9c875a7a62b
  #   azure-sdk-for-rust ?branch=neon#f64bd57262ced51afce5d8909c06dcb11a6dd85a
  # Without an entry crane falls back to builtins.fetchGit, which is still pinned by the git
  # rev (and needs that rev to be reachable from the branch). To pin them by NAR hash too, add
  # the keys with lib.fakeHash, build `.#neon` once, and copy the "got:" hashes here.
  cargoOutputHashes = {
    "git+https://github.com/neondatabase/framed-websockets#34eff3d6f8cfccbc5f35e4f65314ff7328621127" =
      "sha256-3hkkkBM4vO7TtK/RPKalSzPSdBMUjzp5L5cXolsZsVI=";
    "git+https://github.com/neondatabase/tokio-epoll-uring.git?branch=main#781989bb540a1408b0b93daa1e9d1fa452195497" =
      "sha256-cYAznK+0xYlnhCivl7yidxivmRkV3rLrUG/BtshIIog=";
  };
}
