# The whole stack on the neon backend inside the build sandbox: wsctl starts the storage
# broker, a safekeeper, the pageserver, the compute and the Workspace API from the Nix-built
# binaries, runs its health suite, and stops everything. Loopback networking only, as the
# sandbox provides; WSCTL_NEON_PORTS=auto picks free ports.
{
  runCommand,
  workspace-stack,
  neon,
}:

runCommand "workspace-stack-neon-stack"
  {
    nativeBuildInputs = [ workspace-stack ];
  }
  ''
    export HOME=$TMPDIR
    export WSCTL_STATE_DIR=$TMPDIR/stack
    export WSCTL_NEON_PORTS=auto

    fail() {
      echo "neon stack check failed: $1" >&2
      wsctl status || true
      wsctl logs || true
      wsctl down || true
      exit 1
    }

    wsctl up --backend neon --neon-dir ${neon} --timeout 600 || fail "wsctl up"
    wsctl status
    wsctl test || fail "wsctl test"
    wsctl down || fail "wsctl down"

    mkdir -p $out
    echo ok > $out/result
  ''
