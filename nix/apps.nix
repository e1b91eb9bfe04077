# `nix run .#<app>`. The stack apps are thin wrappers around wsctl: state goes where wsctl
# puts it (--state-dir, WSCTL_STATE_DIR, or .workspace-stack in the current directory), so
# `nix run .#up` and `nix run .#down` from the same directory act on the same stack.
{
  lib,
  writeShellApplication,
  workspace-stack,
  neon,
  images,
}:

let
  wsctl = name: description: script: {
    type = "app";
    program = lib.getExe (writeShellApplication {
      name = "workspace-stack-${name}";
      runtimeInputs = [ workspace-stack ];
      text = script;
    });
    meta = { inherit description; };
  };
in
{
  up = wsctl "up" "Start the stack on the neon backend with the Nix-built Neon (wsctl up)" ''
    export WSCTL_NEON_DIR=${neon}
    exec wsctl up --backend neon --neon-dir ${neon} "$@"
  '';

  down = wsctl "down" "Stop the stack (wsctl down)" ''
    exec wsctl down "$@"
  '';

  test = wsctl "test" "Run the health suite against the running stack (wsctl test)" ''
    exec wsctl test "$@"
  '';

  rollback = wsctl "rollback" "Restore main to a snapshot (wsctl rollback)" ''
    exec wsctl rollback "$@"
  '';

  # Streams every image into docker (or podman: CONTAINER_ENGINE=podman, or when docker is
  # not installed). The image names are workspace-stack/<name>:0.1.0, as compose expects.
  load-images = {
    type = "app";
    program = lib.getExe (writeShellApplication {
      name = "workspace-stack-load-images";
      text = ''
        engine=''${CONTAINER_ENGINE:-}
        if [ -z "$engine" ]; then
          if command -v docker >/dev/null; then engine=docker
          elif command -v podman >/dev/null; then engine=podman
          else echo "load-images: neither docker nor podman is on PATH" >&2; exit 1
          fi
        fi
        ${lib.concatStrings (
          lib.mapAttrsToList (name: image: ''
            echo "load-images: ${name} -> $engine"
            ${image} | "$engine" load
          '') images
        )}
      '';
    });
    meta.description = "Load the stack's OCI images into docker or podman";
  };
}
