#!/usr/bin/env bash
# benches/parallel.sh - rewrite on every core, against a peer, against the
# physical floor and against itself, in the same run (best of N, default 3):
#   1. `slim rewrite` of the JRE image against `umoci unpack` of it (the
#      peer reads the same layers and writes the rootfs; slim reads, traces
#      and writes a compressed layer). Goal: <= 0.35x.
#   2. the floor of that rewrite, with slim's own codecs and nothing else
#      (benches/codec_floor.rs): the source layers inflated (one stream per
#      layer) plus the kept bytes compressed by slim's block encoder on every
#      core. No hashing, no tar, no trace. And a peer compressor for scale:
#      `pigz -6` (zlib) of the same kept bytes, independent 1 MiB blocks.
#   3. `slim rewrite` of the two-platform index (fixtures/make-index.sh)
#      against two single-platform rewrites run one after the other. Goal:
#      <= 0.6x.
#   4. peak RSS (/usr/bin/time -f %M) of both rewrites. Goal: < 100 MiB.
#   5. SLIM_THREADS=1 (one platform at a time, one block compressing beside
#      the thread that builds the tar, no read-ahead) and `--compression
#      zstd`, for scale.
#
# usage: benches/parallel.sh [FIXTURES_DIR] [RUNS]   (root: umoci unpack;
#        pigz from fixtures/install-deps.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
fx=${1:-${SLIM_FIXTURES:-/var/tmp/slim-fixtures}}
runs=${2:-3}
cargo build --release -q --benches
slim=$PWD/target/release/slim
# Outputs go to a tmpfs when there is one: the disk's write-back is the
# noisiest part of either command here (umoci's best of 3 went 6 to 14 s).
tmp=$(mktemp -d -p "$( [ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")")
trap 'rm -rf "$tmp"' EXIT

best() { # best CMD...: best wall time of $runs runs, in seconds
    local b=
    for _ in $(seq "$runs"); do
        local t0 t1
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        t1=$(date +%s.%N)
        b=$(echo "$t0 $t1 ${b:-999999}" | awk '{d=$2-$1; print (d<$3)?d:$3}')
    done
    echo "$b"
}
rss() { # rss IMAGE: peak RSS of its rewrite, in MiB
    rm -rf "$tmp/o"
    /usr/bin/time -f %M "$slim" rewrite -q --to distroless "$1" -o "oci:$tmp/o:x" 2>&1 >/dev/null |
        tail -1 | awk '{printf "%.0f", $1/1024}'
}
ratio() { echo "$1 $2" | awk '{printf "%.2f", $1/$2}'; }

echo "cores: $(nproc)"
rw() { rm -rf "$tmp/o"; "$slim" rewrite -q --to distroless "$@" -o "oci:$tmp/o:x" >/dev/null; }

umoci_t=$(best sh -c "rm -rf $tmp/b; umoci unpack --image $fx/jre.oci:bookworm $tmp/b")
jre_t=$(best rw "$fx/jre.oci")
jre1_t=$(SLIM_THREADS=1 best rw "$fx/jre.oci")
zstd_t=$(best rw --compression zstd "$fx/jre.oci")
echo "| jre | umoci unpack ${umoci_t} s | slim rewrite ${jre_t} s | $(ratio "$jre_t" "$umoci_t")x | SLIM_THREADS=1 ${jre1_t} s ($(ratio "$jre1_t" "$umoci_t")x) | --compression zstd ${zstd_t} s ($(ratio "$zstd_t" "$umoci_t")x) | peak RSS $(rss "$fx/jre.oci") MiB |"

# The floor: the source layers inflated, and the kept bytes (slim's own
# layer, uncompressed, made once and not timed) deflated on every core.
layers() { # layers LAYOUT: the layer blobs of its first manifest
    local m
    m=$(jq -r '.manifests[0].digest' "$1/index.json" | cut -d: -f2)
    jq -r '.layers[].digest' "$1/blobs/sha256/$m" | sed "s|sha256:|$1/blobs/sha256/|"
}
rw "$fx/jre.oci"
kept=$(layers "$tmp/o" | xargs ls -S | head -1)
gzip -dc < "$kept" > "$tmp/kept.tar"
jre_layers=$(layers "$fx/jre.oci" | tr '\n' ' ')
# Its own timing (the kept tar is read into memory before it starts), best of $runs.
floor_t=999999
for _ in $(seq "$runs"); do
    # shellcheck disable=SC2086
    line=$(cargo bench -q --bench codec_floor -- "$tmp/kept.tar" $jre_layers 2>/dev/null)
    t=$(echo "$line" | sed 's/.*= \([0-9.]*\) s$/\1/')
    if awk "BEGIN{exit !($t < $floor_t)}"; then floor_t=$t floor_line=$line; fi
done
pigz_t=$(best sh -c "pigz -6 -p $(nproc) --independent -b 1024 -c < $tmp/kept.tar")
echo "| jre floor | ${floor_line} | best ${floor_t} s | slim rewrite / floor $(ratio "$jre_t" "$floor_t")x | floor / umoci $(ratio "$floor_t" "$umoci_t")x | peer compressor: pigz -6 -p $(nproc) of the kept bytes alone ${pigz_t} s |"
rm -f "$tmp/kept.tar"

two() { rw "$fx/multi-amd64.oci" && rw "$fx/multi-arm64.oci"; }
singles_t=$(best two)
index_t=$(best rw "$fx/multi.oci")
echo "| multi | two single rewrites ${singles_t} s | index rewrite ${index_t} s | $(ratio "$index_t" "$singles_t")x | peak RSS $(rss "$fx/multi.oci") MiB |"
