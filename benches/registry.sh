#!/bin/sh
# registry.sh - pulling from a registry: slim next to skopeo, same images, same
# loopback registry (fixtures/registry.sh), same run. Each tool copies the
# image into a fresh OCI layout, best of 3; slim with --no-cache (it downloads
# every blob, as skopeo does). Also: slim analyze straight from the registry,
# cold (--no-cache) and warm (its blob cache), against analyze of the archive.
# usage: benches/registry.sh [SLIM] [FIXDIR]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
slim=${1:-$here/target/release/slim}
fix=${2:-${SLIM_FIXTURES:-/var/tmp/slim-fixtures}}
export REGISTRY_PORT=${REGISTRY_PORT:-5077}
export REGISTRY_DIR=${REGISTRY_DIR:-${TMPDIR:-/tmp}/slim-bench-registry}
reg=$("$here/fixtures/registry.sh" start)
trap '"$here/fixtures/registry.sh" stop >/dev/null 2>&1 || true' EXIT
work=$(mktemp -d)
trap 'rm -rf "$work"; "$here/fixtures/registry.sh" stop >/dev/null 2>&1 || true' EXIT
export XDG_CACHE_HOME=$work/cache

best() { # best of 3 wall-clock seconds of "$@", a fresh $work/out each time
    b=
    for _ in 1 2 3; do
        rm -rf "$work/out"
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        t=$(echo "$(date +%s.%N) - $t0" | bc)
        if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; fi
    done
    printf '%.2f' "$b"
}

echo "| image | skopeo copy → oci | slim copy --all --no-cache → oci | slim / skopeo | slim analyze, cold | warm | analyze of the archive |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for n in nginx python3 jre; do
    img=$fix/$n.oci.tar
    [ -e "$img" ] || continue
    "$here/fixtures/registry.sh" push "$img" "bench/$n:1" >/dev/null
    src=docker://$reg/bench/$n:1
    s=$(best skopeo --insecure-policy copy -q --src-tls-verify=false "$src" "oci:$work/out:x")
    m=$(best "$slim" copy -q --all --no-cache --tls-verify=false "$src" "oci:$work/out:x")
    cold=$(best "$slim" analyze -q --no-cache --tls-verify=false "$src")
    "$slim" ls -q --tls-verify=false "$src" >/dev/null
    warm=$(best "$slim" analyze -q --tls-verify=false "$src")
    local=$(best "$slim" analyze -q "$img")
    echo "| $n | $s s | $m s | $(echo "scale=2; $m / $s" | bc) | $cold s | $warm s | $local s |"
done
