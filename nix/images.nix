# OCI images, streamed (`nix build .#image-<name>` yields a script that writes the image tar
# to stdout, so no image tarball is stored). Names and tags are the ones compose uses.
#
# Shared conventions: a non-root user (uid/gid 1000), state under the /data volume, the Nix
# closure under /nix/store, and stable paths for the programs:
#   /neon/bin/*            Neon's binaries          (pageserver, safekeeper, broker, compute)
#   /neon/pg_install/vNN   PostgreSQL trees, also linked as /usr/local/vNN (the pg_distrib_dir
#                          wsctl writes into pageserver.toml for containers)
#   /usr/local/bin/*       every program of v17's bin/ (the compute's --pgbin is
#                          /usr/local/bin/postgres; compute_ctl runs pg_config, initdb, pg_ctl
#                          and pg_isready from the same directory)
#   /bin/*                 busybox-free basics: sh, coreutils, curl for health checks (and
#                          grep in the compute's), the image's own programs
# Health checks are in the image config (Docker honours them; compose overrides them).
# .ci/check-images lays out each image's root from this file and checks that every program
# the compose files and these configs run is there.
{
  lib,
  dockerTools,
  buildEnv,
  writeTextDir,
  writeScriptBin,
  cacert,
  curlMinimal,
  bashInteractive,
  coreutils,
  gnugrep,
  postgresql_17,
  neon,
  workspace-stack,
  tag ? "0.1.0",
}:

let
  seconds = s: s * 1000000000;

  # A health check that passes when an HTTP endpoint answers 2xx.
  httpOk = url: [
    "CMD"
    "curl"
    "-fsS"
    "-o"
    "/dev/null"
    url
  ];

  # /etc/passwd and /etc/group with root and one unprivileged user.
  users =
    { user, home }:
    [
      (writeTextDir "etc/passwd" ''
        root:x:0:0:root:/root:/bin/sh
        ${user}:x:1000:1000:${user}:${home}:/bin/sh
        nobody:x:65534:65534:nobody:/var/empty:/bin/false
      '')
      (writeTextDir "etc/group" ''
        root:x:0:
        ${user}:x:1000:
        nogroup:x:65534:
      '')
    ];

  mkImage =
    {
      name,
      user,
      home ? "/data",
      packages ? [ ],
      dirs ? [ ],
      neonTree ? false,
      ports,
      healthcheck,
      # No entrypoint: compose's `command:` names the program (on PATH), as with any image.
      entrypoint ? [ ],
      cmd ? [ ],
      env ? [ ],
    }:
    dockerTools.streamLayeredImage {
      name = "workspace-stack/${name}";
      inherit tag;
      contents = [
        (buildEnv {
          name = "${name}-root";
          paths = packages ++ [
            cacert
            curlMinimal
            bashInteractive
            coreutils
          ];
          pathsToLink = [
            "/bin"
            "/etc"
          ];
        })
      ]
      ++ users { inherit user home; };
      # Runs under fakeroot in the image root: create the writable directories owned by the
      # image's user, and the stable /neon link.
      fakeRootCommands = ''
        mkdir -p ./tmp ./data ${lib.concatMapStringsSep " " (d: "." + d) dirs}
        chmod 1777 ./tmp
        chown -R 1000:1000 ./data ${lib.concatMapStringsSep " " (d: "." + d) dirs}
        ${lib.optionalString neonTree ''
          ln -s ${neon} ./neon
          # The paths compose/workspace-stack.yml and wsctl use by default (the same as on a
          # Debian image): pg_distrib_dir /usr/local with vNN/, the compute's postgres at
          # /usr/local/bin/postgres with the rest of v17's programs beside it (compute_ctl
          # runs <dir of --pgbin>/pg_config at start and panics without it). PostgreSQL
          # resolves these links to its real tree.
          mkdir -p ./usr/local/bin
          for v in v14 v15 v16 v17; do ln -s ${neon}/pg_install/$v ./usr/local/$v; done
          for p in ${neon}/pg_install/v17/bin/*; do ln -s "$p" ./usr/local/bin/; done
        ''}
      '';
      config = {
        User = "1000:1000";
        WorkingDir = "/data";
        Volumes."/data" = { };
        ExposedPorts = lib.genAttrs (map (p: "${toString p}/tcp") ports) (_: { });
        Entrypoint = entrypoint;
        Cmd = cmd;
        Env = [
          "PATH=${lib.optionalString neonTree "/neon/bin:"}/bin"
          "SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt"
          "HOME=${home}"
        ]
        ++ env;
        Healthcheck = {
          Test = healthcheck;
          Interval = seconds 5;
          Timeout = seconds 3;
          StartPeriod = seconds 10;
          Retries = 12;
        };
        Labels = {
          "org.opencontainers.image.title" = "workspace-stack/${name}";
          "org.opencontainers.image.version" = tag;
        }
        # Also keeps the Neon tree in the image's closure explicitly (the /neon link made
        # under fakeroot points at it).
        // lib.optionalAttrs neonTree { "org.workspace-stack.neon" = "${neon}"; };
      };
    };

  # The same entrypoint as the Debian-based image of compose/build-images.sh (which the
  # container tests run): one script, so both images make the cluster the same way.
  postgresEntrypoint = writeScriptBin "postgres-entrypoint" (
    builtins.readFile ../compose/postgres-entrypoint.sh
  );
in
{
  storage-broker = mkImage {
    name = "storage-broker";
    user = "neon";
    neonTree = true;
    ports = [ 50051 ];
    healthcheck = httpOk "http://127.0.0.1:50051/status";
    cmd = [
      "storage_broker"
      "--listen-addr=0.0.0.0:50051"
    ];
  };

  # The pageserver's workdir is /data: compose mounts identity.toml and pageserver.toml there.
  # wsctl writes pg_distrib_dir = '/usr/local' (WSCTL_NEON_IMAGE_PG_DISTRIB); '/neon/pg_install'
  # names the same trees.
  pageserver = mkImage {
    name = "pageserver";
    user = "neon";
    neonTree = true;
    ports = [
      6400
      9898
    ];
    healthcheck = httpOk "http://127.0.0.1:9898/v1/status";
    cmd = [
      "pageserver"
      "-D"
      "/data"
    ];
  };

  # compose passes --id, --listen-pg/--advertise-pg, --broker-endpoint.
  safekeeper = mkImage {
    name = "safekeeper";
    user = "neon";
    neonTree = true;
    ports = [
      5454
      7676
    ];
    healthcheck = httpOk "http://127.0.0.1:7676/v1/status";
    cmd = [
      "safekeeper"
      "-D"
      "/data"
      "--listen-pg=0.0.0.0:5454"
      "--listen-http=0.0.0.0:7676"
    ];
  };

  # compute_ctl + PostgreSQL 17 with Neon's extensions. compose passes --pgdata (under /data),
  # --connstr, --compute-id, --config and the same --pgbin as here. compute_ctl's /status
  # needs a JWT, /metrics does not; compose's health check greps /metrics for
  # status="running", hence grep (and sh for CMD-SHELL) in this image.
  compute = mkImage {
    name = "compute";
    user = "postgres";
    neonTree = true;
    packages = [ gnugrep ];
    dirs = [ "/var/db/postgres" ];
    ports = [
      55433
      3080
    ];
    healthcheck = httpOk "http://127.0.0.1:3080/metrics";
    cmd = [
      "compute_ctl"
      "--pgbin"
      "/usr/local/bin/postgres"
    ];
  };

  # The Workspace API, and wsctl (compose runs a wsctl subcommand in this image to answer
  # the pageserver's control-plane upcalls).
  api = mkImage {
    name = "api";
    user = "workspace";
    packages = [ workspace-stack ];
    ports = [ 3200 ];
    healthcheck = httpOk "http://127.0.0.1:3200/health";
    cmd = [
      "workspace-api"
      "serve"
    ];
    env = [
      "WORKSPACE_HOST=0.0.0.0"
      "WORKSPACE_PORT=3200"
      "LOG_FORMAT=json"
    ];
  };

  # Optional: the plain-PostgreSQL variant of the stack (nixpkgs' PostgreSQL 17). On an empty
  # volume the entrypoint runs initdb (superuser POSTGRES_USER, default postgres, password
  # POSTGRES_PASSWORD, required), creates POSTGRES_DB (default workspace), and allows password
  # logins from other containers.
  postgres = mkImage {
    name = "postgres";
    user = "postgres";
    packages = [
      postgresql_17
      postgresEntrypoint
    ];
    dirs = [ "/run/postgresql" ];
    ports = [ 5432 ];
    healthcheck = [
      "CMD"
      "pg_isready"
      "-h"
      "127.0.0.1"
      "-p"
      "5432"
    ];
    entrypoint = [ "/bin/postgres-entrypoint" ];
    env = [ "PGDATA=/data/pgdata" ];
  };
}
