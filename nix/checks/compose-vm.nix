# End to end in a NixOS VM: load the streamed images into Docker, then drive the compose
# project exactly as users do, through `wsctl up --containers --backend neon` (wsctl generates
# the env file, pageserver.toml and compute specs the compose file needs), run the health
# suite, write through the API, and take everything down. Needs KVM (system feature `kvm`),
# so it is not in `checks` (which `nix flake check` builds everywhere) but in
# legacyPackages: `nix build .#checks-vm.compose-vm`.
{
  lib,
  testers,
  images,
  workspace-stack,
}:

testers.runNixOSTest {
  name = "workspace-stack-compose";

  nodes.machine =
    { pkgs, ... }:
    {
      virtualisation = {
        docker.enable = true;
        cores = 2;
        memorySize = 6144;
        diskSize = 16384;
        # The image scripts must be in the VM's store.
        additionalPaths = lib.attrValues images;
      };
      environment.systemPackages = [
        pkgs.docker-compose
        pkgs.curl
        workspace-stack
      ];
    };

  testScript = ''
    machine.wait_for_unit("docker.service")

    ${lib.concatStrings (
      lib.mapAttrsToList (name: image: ''
        machine.succeed("${image} | docker load")
      '') images
    )}
    print(machine.succeed("docker image ls"))

    wsctl = "WSCTL_COMPOSE=docker-compose wsctl --state-dir /root/ws"
    try:
        machine.succeed(f"{wsctl} up --containers --backend neon", timeout=1200)
        machine.succeed(f"{wsctl} test")
        machine.succeed(
            "curl -fsS -X POST -H 'content-type: application/json' "
            "-d '{\"title\":\"vm\",\"description\":\"d\",\"category\":\"dashboard\",\"priority\":\"low\"}' "
            "http://127.0.0.1:3200/api/items"
        )
        machine.succeed(f"{wsctl} down")
        machine.succeed(f"{wsctl} up", timeout=900)
        machine.succeed("curl -fsS http://127.0.0.1:3200/api/items | grep -q '\"vm\"'")
    finally:
        print(machine.execute(f"{wsctl} status")[1])
        print(machine.execute(f"{wsctl} logs")[1])

    machine.succeed(f"{wsctl} down --purge --yes")
  '';
}
