#!/usr/bin/env bash
# Makes a release archive: blobfail-<version>-<target>.tar.gz holding the
# driver (which carries the shim), the shim as a file of its own for those
# who preload it by hand, the README and the licences; beside it a
# .sha256 file that `sha256sum -c` checks.
#
#   scripts/release.sh [--target TRIPLE] [--out DIR]
#
# --target: build for another target (default: this host's); the driver
#   then carries a shim built for that target too, and the linker for it must
#   be set up as for any cross build (e.g. CARGO_TARGET_<TRIPLE>_LINKER).
# --out: where the archive and its checksum go (default: target/dist).
# The archive is reproducible: files sorted, owner 0, mtime of the last
# commit (or SOURCE_DATE_EPOCH), gzip without a name or time.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/release.sh [--target TRIPLE] [--out DIR]" >&2; exit 2; }
target=""
out="target/dist"
while [ $# -gt 0 ]; do
  case "$1" in
    --target) [ $# -ge 2 ] || usage; target="$2"; shift 2 ;;
    --out) [ $# -ge 2 ] || usage; out="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "release: unknown argument $1" >&2; usage ;;
  esac
done

host=$(rustc -vV | sed -n 's/^host: //p')
target=${target:-$host}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' driver/Cargo.toml | head -n1)
[ -n "$version" ] || { echo "release: no version in driver/Cargo.toml" >&2; exit 1; }
name="blobfail-$version-$target"

if [ "$target" = "$host" ]; then
  cargo build --release --locked
  built=target/release
else
  cargo build --release --locked --target "$target"
  built=target/$target/release
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/$name"
cp "$built/blobfail" "$stage/$name/blobfail"
if [ "$target" = "$host" ]; then
  # The very shim the binary carries (the workspace build of the shim has
  # the same sources, but other bytes: its debug info names another folder).
  shim=$(XDG_CACHE_HOME="$stage/cache" "$built/blobfail" shim-path)
  cp "$shim" "$stage/$name/libblobfail.so"
else
  cp "$built/libblobfail.so" "$stage/$name/libblobfail.so"
fi
cp README.md LICENSE-MIT LICENSE-APACHE "$stage/$name/"
[ -d docs ] && cp -r docs "$stage/$name/docs"

mkdir -p "$out"
out=$(cd "$out" && pwd)
mtime=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" \
  -C "$stage" -cf - "$name" | gzip -n > "$out/$name.tar.gz"
(cd "$out" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
echo "$out/$name.tar.gz"
echo "$out/$name.tar.gz.sha256"
