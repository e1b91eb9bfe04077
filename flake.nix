{
  description = "Workspace Stack: the Workspace API and wsctl, with Neon built from source";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

    flake-parts = {
      url = "github:hercules-ci/flake-parts";
      inputs.nixpkgs-lib.follows = "nixpkgs";
    };

    crane.url = "github:ipetkov/crane";

    rust-overlay = {
      url = "github:oxalica/rust-overlay";
      inputs.nixpkgs.follows = "nixpkgs";
    };

    # Neon's source at a fixed commit. Not a flake; its PostgreSQL submodules are fetched
    # separately (nix/neon/sources.nix) because GitHub tarballs do not include submodules.
    neon = {
      url = "github:neondatabase/neon/6a35a3e9f149798df1b1761ee64099d8d75fbe90";
      flake = false;
    };
  };

  outputs =
    inputs@{ self, flake-parts, ... }:
    flake-parts.lib.mkFlake { inherit inputs; } {
      # Neon (io_uring, seccomp) is Linux-only, and so are the images.
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];

      perSystem =
        { system, pkgs, lib, ... }:
        let
          # Two toolchains, both from rust-overlay: Neon builds with the one its
          # rust-toolchain.toml names (1.88.0); this crate with the stable release its CI uses.
          craneFor = toolchain: (inputs.crane.mkLib pkgs).overrideToolchain toolchain;
          craneLib = craneFor (p: p.rust-bin.stable."1.95.0".default);
          neonCraneLib = craneFor (
            p: p.rust-bin.fromRustupToolchainFile "${inputs.neon}/rust-toolchain.toml"
          );

          # callPackage adds override functions to attribute sets; outputs must hold only
          # derivations and apps.
          callSet = path: args: removeAttrs (pkgs.callPackage path args) [
            "override"
            "overrideDerivation"
          ];

          neonBuild = pkgs.callPackage ./nix/neon {
            craneLib = neonCraneLib;
            neonSrc = inputs.neon;
          };
          neon = neonBuild.neon;

          ws = pkgs.callPackage ./nix/workspace-stack.nix {
            inherit craneLib;
            root = ./.;
            # `wsctl --version` names the commit; the build has no .git to ask.
            rev = self.shortRev or self.dirtyShortRev or "unknown";
          };

          images = callSet ./nix/images.nix {
            inherit neon;
            workspace-stack = ws.package;
          };

        in
        {
          _module.args.pkgs = import inputs.nixpkgs {
            inherit system;
            overlays = [ inputs.rust-overlay.overlays.default ];
          };

          packages = {
            default = ws.package;
            workspace-stack = ws.package;
            inherit neon;
            neon-rust = neonBuild.rust;
          }
          // lib.mapAttrs' (v: pg: lib.nameValuePair "postgresql-neon-${v}" pg) neonBuild.runtime
          // lib.mapAttrs' (name: image: lib.nameValuePair "image-${name}" image) images;

          apps = callSet ./nix/apps.nix {
            inherit neon images;
            workspace-stack = ws.package;
          };

          devShells = {
            default = pkgs.callPackage ./nix/devshell.nix {
              inherit craneLib;
              neonDist = neon;
            };
            light = pkgs.callPackage ./nix/devshell.nix { inherit craneLib; };
          };

          # `nix flake check` builds these; none needs KVM (neon-stack runs the stack inside
          # the build sandbox on loopback).
          checks = {
            workspace-stack = ws.package;
            inherit (ws) fmt clippy nextest;

            neon-stack = pkgs.callPackage ./nix/checks/neon-stack.nix {
              inherit neon;
              workspace-stack = ws.package;
            };
          };

          # The NixOS VM test needs KVM (requiredSystemFeatures = [ "kvm" ]), which `nix flake
          # check` would demand of every machine; it is built on its own:
          #   nix build .#checks-vm.compose-vm
          # legacyPackages because flake-parts types `checks` and `packages` as flat sets of
          # derivations and `nix flake check` builds every `checks` entry; `nix flake check`
          # does not descend into legacyPackages.
          legacyPackages.checks-vm = {
            compose-vm = pkgs.callPackage ./nix/checks/compose-vm.nix {
              inherit images;
              workspace-stack = ws.package;
            };
          };
        };
    };
}
