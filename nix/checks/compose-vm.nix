# End to end in a NixOS VM: load the streamed images into Docker, start
# compose/workspace-stack.yml with docker-compose, and wait until the Workspace API answers
# over HTTP with its database (the Neon compute) behind it. Needs KVM (system feature `kvm`).
{
  lib,
  testers,
  images,
  composeDir,
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

    # compose may write next to its file (bind mounts), so run it from a writable copy.
    machine.succeed("cp -r ${composeDir} /root/compose && chmod -R u+w /root/compose")
    compose = "docker-compose -p workspace-stack -f /root/compose/workspace-stack.yml"

    machine.succeed(f"{compose} up -d")
    try:
        machine.wait_until_succeeds("curl -fsS http://127.0.0.1:3200/health", timeout=900)
        machine.wait_until_succeeds("curl -fsS http://127.0.0.1:3200/ready", timeout=300)
        machine.succeed("curl -fsS http://127.0.0.1:3200/api/items")
        print(machine.succeed(f"{compose} ps"))
    finally:
        print(machine.execute(f"{compose} logs --no-color")[1])

    machine.succeed(f"{compose} down")
  '';
}
