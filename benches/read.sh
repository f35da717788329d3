#!/usr/bin/env bash
# benches/read.sh - how fast slim reads and writes images, against the
# physical floor (plain decompression / compression of the same bytes) and a
# peer (umoci), all in the same run. Best of N runs (default 3).
#
# usage: benches/read.sh [FIXTURES_DIR] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
fx=${1:-${SLIM_FIXTURES:-/var/tmp/slim-fixtures}}
runs=${2:-3}
cargo build --release -q
slim=$PWD/target/release/slim
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

best() { # best LABEL CMD...: best wall time of $runs runs
    local label=$1 b=
    shift
    for _ in $(seq "$runs"); do
        local t0 t1
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        t1=$(date +%s.%N)
        b=$(echo "$t0 $t1 ${b:-999999}" | awk '{d=$2-$1; print (d<$3)?d:$3}')
    done
    printf '%-58s %6.2f s\n' "$label" "$b"
}

for name in nginx curl python3; do
    [ -f "$fx/$name.info" ] || continue
    layout=$fx/$name.oci
    tag=$(sed -n 's/^tag=//p' "$fx/$name.info")
    blobs=$(jq -r '.layers[].digest' "$layout/blobs/sha256/$(jq -r '.manifests[0].digest' "$layout/index.json" | cut -d: -f2)" | cut -d: -f2 | tr "\n" " ")
    gz=0
    for b in $blobs; do gz=$((gz + $(stat -c %s "$layout/blobs/sha256/$b"))); done
    echo "== $name: $(echo "$blobs" | wc -w) layers, $((gz / 1048576)) MiB gzip, $(($(stat -c %s "$fx/$name.docker.tar") / 1048576)) MiB tar"
    best "floor: gzip -dc of the layers" sh -c "for b in $blobs; do gzip -dc < $layout/blobs/sha256/\$b; done"
    best "floor: gzip -dc | sha256sum, + sha256sum of the blobs" sh -c "for b in $blobs; do gzip -dc < $layout/blobs/sha256/\$b | sha256sum; sha256sum $layout/blobs/sha256/\$b; done"
    best "slim analyze oci-archive (gzip, verify both digests)" "$slim" analyze --quiet "$fx/$name.oci.tar"
    best "slim analyze docker-archive (plain layers)" "$slim" analyze --quiet "$fx/$name.docker.tar"
    best "floor: sha256sum of the docker-archive" sha256sum "$fx/$name.docker.tar"
    best "peer: umoci unpack (writes the rootfs to disk)" sh -c "rm -rf $tmp/b; umoci unpack --image $layout:$tag $tmp/b"
    best "floor: gzip -6 of the docker-archive's layer bytes" sh -c "gzip -6 -c < $fx/$name.docker.tar"
    best "slim copy --flatten (read + write one gzip layer)" "$slim" copy --quiet --flatten "$fx/$name.oci.tar" "$tmp/flat.tar"
    best "slim copy (verbatim blobs) to oci layout" "$slim" copy --quiet "$fx/$name.oci.tar" "oci:$tmp/copy.oci"
done
