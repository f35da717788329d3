#!/usr/bin/env bash
# benches/trace.sh - trace every ELF file of the fixture images with slim and
# with lddtree (pax-utils, the peer) over the same file list, in one run.
# usage: benches/trace.sh [FIXTURES_DIR] [NAME...]   (default: jre)
set -euo pipefail
cd "$(dirname "$0")/.."
fx=${1:-${SLIM_FIXTURES:-/var/tmp/slim-fixtures}}
shift || true
[ $# -gt 0 ] || set -- jre
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cargo build --release -q --benches
for name in "$@"; do
    echo "== $name"
    cargo bench -q --bench trace_all -- "$fx/$name.oci.tar" "$tmp/list" 2>/dev/null | grep -v '^$'
    umoci unpack --image "$fx/$name.oci:bookworm" "$tmp/b" >/dev/null 2>&1
    n=$(wc -l <"$tmp/list")
    t0=$(date +%s.%N)
    xargs -n 300 /usr/bin/python3 /usr/bin/lddtree -R "$tmp/b/rootfs" <"$tmp/list" >/dev/null 2>&1 || true
    t1=$(date +%s.%N)
    echo "peer: lddtree -R over the same $n ELF files: $(echo "$t0 $t1" | awk '{printf "%.2f", $2-$1}') s"
    rm -rf "$tmp/b"
done
