# Everything the Neon build fetches besides the `neon` flake input itself.
#
# The PostgreSQL forks are the submodule commits recorded in Neon's tree at the pinned commit
# (vendor/postgres-v1x, also listed in vendor/revisions.json). GitHub tarballs and flake
# `github:` inputs leave submodules out, so each fork is fetched on its own by rev and hash.
rec {
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

  # The git checkouts crane makes for Neon's Cargo.lock (v4, 6a35a3e9), keyed the way
  # crane's `outputHashes` are keyed: by the lock file's `source` string of the checkout.
  #
  # Which checkout holds which crate: crane (lib/vendorMultipleCargoDeps.nix and
  # lib/vendorGitDeps.nix at 2c71e194) sorts the lock's packages by "name:version:source",
  # groups the git ones by URL plus query (the rev is not part of the group), and fetches one
  # checkout per group, at the rev of the group's first package. Neon's lock has 12 git
  # packages from 5 (url, rev) pairs, so 4 checkouts:
  #   rust-postgres ?branch=neon: postgres-0.19.7 is locked at 1f21e795, postgres-protocol
  #     0.6.6, postgres-types 0.2.6 and tokio-postgres 0.7.10 at f3cf448f. "postgres-protocol:"
  #     sorts before "postgres:" ('-' < ':'), so the checkout is f3cf448f and postgres-0.19.7
  #     is taken from it too; 1f21e795 is never fetched. This is also what cargo does with
  #     two revs of one git source (rust-lang/cargo#14230: one rev for all). Evaluating
  #     crane's own vendoring code over Neon's Cargo.lock, with the fetcher replaced by a
  #     marker, links all four crates from the f3cf448f checkout. Not checked: that
  #     f3cf448f's postgres/Cargo.toml still says 0.19.7 (at 1f21e795 it does); if not, the
  #     vendor directory lacks postgres-0.19.7 and cargo says so.
  #   azure-sdk-for-rust ?branch=neon: five azure_* 0.21.0 crates, all at f64bd572.
  #   framed-websockets (no query) and tokio-epoll-uring ?branch=main: one rev each.
  #
  # null = hash not known yet. Neither rev could be fetched where this was written (no public
  # copy holds them). crane then falls back to builtins.fetchGit during evaluation: network
  # at every evaluation that touches Neon, content pinned by rev only. .ci/check-nix prints a
  # WARNING with the commands that fill them; the README's Nix section has the steps.
  cargoGitCheckouts = {
    "git+https://github.com/neondatabase/framed-websockets#34eff3d6f8cfccbc5f35e4f65314ff7328621127" =
      "sha256-3hkkkBM4vO7TtK/RPKalSzPSdBMUjzp5L5cXolsZsVI=";
    "git+https://github.com/neondatabase/tokio-epoll-uring.git?branch=main#781989bb540a1408b0b93daa1e9d1fa452195497" =
      "sha256-cYAznK+0xYlnhCivl7yidxivmRkV3rLrUG/BtshIIog=";
    "git+https://github.com/neondatabase/rust-postgres.git?branch=neon#f3cf448febde5fd298071d54d568a9c875a7a62b" =
      null;
    "git+https://github.com/neondatabase/azure-sdk-for-rust.git?branch=neon#f64bd57262ced51afce5d8909c06dcb11a6dd85a" =
      null;
  };

  # What crane gets: the known hashes (crane warns "No output hash provided for ..." about
  # the rest and fetches them with builtins.fetchGit).
  cargoOutputHashes =
    builtins.removeAttrs cargoGitCheckouts (
      builtins.filter (k: cargoGitCheckouts.${k} == null) (builtins.attrNames cargoGitCheckouts)
    );
}
