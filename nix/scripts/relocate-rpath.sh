#!/usr/bin/env bash
# relocate-rpath.sh OLD NEW DIR
#
# For every ELF file under DIR (executables and shared objects) whose RUNPATH names OLD,
# replaces each occurrence of OLD in it with NEW; other entries are kept as they are.
# Used by nix/neon/extensions.nix after copying a PostgreSQL tree from OLD to NEW, so the copy
# loads its own libpq and modules and still finds OpenSSL, ICU, zstd, ... where they were.
# .ci/check-relocate-rpath runs this same file on ELF files built there.
#
# Quoting matters: in ${rpath//"$old"/$new} the quotes make OLD a literal string. Written as
# ${rpath//$old/$new} with OLD inlined (as a Nix antiquotation does), a leading "/" in OLD
# turns the operator into replace-all with the pattern cut at OLD's next "/", and every entry
# becomes a relative path that stdenv's fixup then drops.
set -euo pipefail

if [ $# -ne 3 ]; then
    echo "usage: relocate-rpath.sh OLD NEW DIR" >&2
    exit 2
fi
old=$1
new=$2
dir=$3
if [ -z "$old" ] || [ -z "$new" ]; then
    echo "relocate-rpath: OLD and NEW must not be empty" >&2
    exit 2
fi
if [ ! -d "$dir" ]; then
    echo "relocate-rpath: $dir is not a directory" >&2
    exit 2
fi

changed=0
while IFS= read -r -d '' f; do
    # Not an ELF file, or one without a dynamic section (scripts, static archives): skip.
    rpath=$(patchelf --print-rpath "$f" 2>/dev/null) || continue
    case "$rpath" in
        *"$old"*) ;;
        *) continue ;;
    esac
    patchelf --set-rpath "${rpath//"$old"/$new}" "$f"
    changed=$((changed + 1))
done < <(find "$dir" -type f \( -perm -0100 -o -name '*.so' -o -name '*.so.*' \) -print0)

echo "relocate-rpath: rewrote the RUNPATH of $changed file(s) under $dir ($old -> $new)"
