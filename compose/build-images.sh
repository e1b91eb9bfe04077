#!/usr/bin/env bash
# Builds the images of the compose stack's postgres variant without any registry:
#   workspace-stack/bookworm-base:0.1.0   Debian bookworm (debootstrap) + PostgreSQL + curl
#   workspace-stack/postgres:0.1.0        PostgreSQL, run as the postgres account
#   workspace-stack/api:0.1.0             workspace-api and wsctl from target/release
# The Neon images (storage-broker, pageserver, safekeeper, compute) come from the Nix flake.
#
# Usage: compose/build-images.sh [--force]
#   --force            rebuild even if the images exist
#   DEBIAN_MIRROR=URL  the mirror for debootstrap (default: the one apt uses on this machine)
#   DOCKER=podman      another engine CLI with docker's import/build commands
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=0.1.0
BASE=workspace-stack/bookworm-base:$TAG
DOCKER=${DOCKER:-docker}
force=0
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "build-images.sh: unknown argument $arg (only --force)" >&2; exit 2 ;;
    esac
done

log() { printf '==> %s\n' "$*"; }
have_image() { [ "$force" = 0 ] && "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

if ! "$DOCKER" info >/dev/null 2>&1; then
    echo "build-images.sh: the $DOCKER engine is not reachable — start dockerd (or set DOCKER)" >&2
    exit 1
fi

# The mirror apt already uses here: deb822 sources first, then the one-line format.
mirror() {
    if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
    local m=""
    m=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$m" ] || m=$(awk '$1=="deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
    echo "${m:-http://deb.debian.org/debian}"
}

build_base() {
    if have_image "$BASE"; then log "$BASE exists (--force rebuilds)"; return; fi
    command -v debootstrap >/dev/null || { echo "build-images.sh: debootstrap is missing — apt-get install debootstrap" >&2; exit 1; }
    [ "$(id -u)" = 0 ] || { echo "build-images.sh: debootstrap and chroot need root" >&2; exit 1; }
    local root
    root=$(mktemp -d /var/tmp/workspace-stack-rootfs.XXXXXX)
    # shellcheck disable=SC2064  # expand now: the trap must remove this very directory
    trap "rm -rf --one-file-system '$root'" EXIT
    local m; m=$(mirror)
    log "debootstrap bookworm from $m"
    debootstrap --variant=minbase bookworm "$root" "$m" >"$root.debootstrap.log" 2>&1 \
        || { tail -20 "$root.debootstrap.log" >&2; exit 1; }
    rm -f "$root.debootstrap.log"
    # No services start inside a chroot, and no default cluster: the image makes its own.
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod +x "$root/usr/sbin/policy-rc.d"
    mkdir -p "$root/etc/postgresql-common"
    echo 'create_main_cluster = false' >"$root/etc/postgresql-common/createcluster.conf"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    log "installing PostgreSQL in the root filesystem"
    chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends postgresql ca-certificates curl >/dev/null
    chroot "$root" apt-get clean
    rm -rf "$root"/var/lib/apt/lists/* "$root/usr/sbin/policy-rc.d"
    : >"$root/etc/resolv.conf"
    log "importing $BASE"
    tar -C "$root" -c . | "$DOCKER" import - "$BASE" >/dev/null
    rm -rf --one-file-system "$root"
    trap - EXIT
}

build() {
    local image=$1 dockerfile=$2 context=$3
    if have_image "$image"; then log "$image exists (--force rebuilds)"; return; fi
    log "building $image"
    DOCKER_BUILDKIT=0 "$DOCKER" build -q --build-arg "BASE=$BASE" -t "$image" -f "$dockerfile" "$context" >/dev/null
}

started=$(date +%s)
build_base
build "workspace-stack/postgres:$TAG" compose/postgres.Dockerfile compose

for bin in workspace-api wsctl; do
    [ -x "target/release/$bin" ] || { echo "build-images.sh: target/release/$bin is missing — cargo build --release first" >&2; exit 1; }
done
# The context holds only the two binaries, not the whole target directory.
ctx=$(mktemp -d)
cp target/release/workspace-api target/release/wsctl "$ctx/"
if [ "$force" = 0 ] && "$DOCKER" image inspect "workspace-stack/api:$TAG" >/dev/null 2>&1; then
    # Rebuild when the binaries changed: the image records their checksum.
    want=$(cat "$ctx/workspace-api" "$ctx/wsctl" | sha256sum | cut -c1-64)
    have=$("$DOCKER" image inspect -f '{{index .Config.Labels "workspace-stack.binaries"}}' "workspace-stack/api:$TAG")
    [ "$want" = "$have" ] || force=1
fi
sum=$(cat "$ctx/workspace-api" "$ctx/wsctl" | sha256sum | cut -c1-64)
if have_image "workspace-stack/api:$TAG"; then
    log "workspace-stack/api:$TAG is up to date (--force rebuilds)"
else
    log "building workspace-stack/api:$TAG"
    DOCKER_BUILDKIT=0 "$DOCKER" build -q --build-arg "BASE=$BASE" --label "workspace-stack.binaries=$sum" \
        -t "workspace-stack/api:$TAG" -f compose/api.Dockerfile "$ctx" >/dev/null
fi
rm -rf "$ctx"
log "images ready in $(( $(date +%s) - started )) s"
