#!/bin/sh
# registry.sh - pulling from a registry: slim next to skopeo, same images, same
# loopback registry (fixtures/registry.sh), same run. Each tool copies the
# image into a fresh OCI layout, best of 3; slim with --no-cache (it downloads
# every blob, as skopeo does): the plain copy a user types (one platform) and
# --all. Also: slim analyze straight from the registry, cold (--no-cache) and
# warm (its blob cache), against analyze of the archive. Then the same copy
# through benches/fault-proxy.py, which answers 503 to one request in three.
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

ratio() { printf '%.2f' "$(echo "scale=3; $1 / $2" | bc)"; }

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

echo "| image | skopeo copy → oci | slim copy --no-cache → oci | slim / skopeo | slim copy --all --no-cache | slim / skopeo | slim analyze, cold | warm | analyze of the archive |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for n in nginx python3 jre; do
    img=$fix/$n.oci.tar
    [ -e "$img" ] || continue
    "$here/fixtures/registry.sh" push "$img" "bench/$n:1" >/dev/null
    src=docker://$reg/bench/$n:1
    s=$(best skopeo --insecure-policy copy -q --src-tls-verify=false "$src" "oci:$work/out:x")
    p=$(best "$slim" copy -q --no-cache --tls-verify=false "$src" "oci:$work/out:x")
    m=$(best "$slim" copy -q --all --no-cache --tls-verify=false "$src" "oci:$work/out:x")
    cold=$(best "$slim" analyze -q --no-cache --tls-verify=false "$src")
    "$slim" ls -q --tls-verify=false "$src" >/dev/null
    warm=$(best "$slim" analyze -q --tls-verify=false "$src")
    local=$(best "$slim" analyze -q "$img")
    echo "| $n | $s s | $p s | $(ratio "$p" "$s") | $m s | $(ratio "$m" "$s") | $cold s | $warm s | $local s |"
done

# Through a proxy that answers 503 to every third request. Both tools with
# --retry-times 3; slim with its default backoff (1 s, doubling, jitter).
pport=$((REGISTRY_PORT + 1))
python3 "$here/benches/fault-proxy.py" "$pport" "$reg" 3 &
proxy=$!
trap 'kill $proxy 2>/dev/null; rm -rf "$work"; "$here/fixtures/registry.sh" stop >/dev/null 2>&1 || true' EXIT
sleep 0.5
once() { # wall-clock seconds of "$@" and its exit status, a fresh $work/out
    rm -rf "$work/out"
    t0=$(date +%s.%N)
    if "$@" >/dev/null 2>"$work/err"; then r=ok; else r="fails (exit $?)"; fi
    printf '%.2f s, %s' "$(echo "$(date +%s.%N) - $t0" | bc)" "$r"
}
echo
echo "| image, 503 on every third request | skopeo copy --retry-times 3 | slim copy --no-cache --retry-times 3 |"
echo "| --- | ---: | ---: |"
for n in nginx python3 jre; do
    [ -e "$fix/$n.oci.tar" ] || continue
    src=docker://127.0.0.1:$pport/bench/$n:1
    s=$(once skopeo --insecure-policy copy -q --retry-times 3 --src-tls-verify=false "$src" "oci:$work/out:x")
    serr=$(tail -n 1 "$work/err" | sed 's/.*msg="//; s/"$//; s/.*: \([^:]*: [^:]*\)$/\1/' | tr '|' ' ')
    m=$(once "$slim" copy -q --no-cache --retry-times 3 --tls-verify=false "$src" "oci:$work/out:x")
    echo "| $n | $s${serr:+: $serr} | $m |"
done
