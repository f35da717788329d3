#!/bin/sh
# probe.sh - what `slim rewrite --probe --verify` costs against the floor of
# doing the same by hand with the peer tools: `umoci unpack` of the image
# plus one `runc run` of its command, answered once over HTTP from inside
# the container's network (nsenter + curl) and stopped. slim does that
# twice (the original, observed; the slimmed image) plus the trace and the
# write. Best of 3 each, in the same run. (The pair runs the command as
# root: umoci's rootfs of app-go denies its user the CA store.)
# usage: benches/probe.sh [SLIM] [FIXDIR]   (as root: runc, umoci, nsenter, curl)
set -eu
slim=${1:-target/release/slim}
fix=${2:-${SLIM_FIXTURES:-/var/tmp/slim-fixtures}}
work=$(mktemp -d)
trap 'runc delete --force bench-probe >/dev/null 2>&1 || true; rm -rf "$work"' EXIT INT TERM

best() {
    b=
    for _ in 1 2 3; do
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        t=$(echo "$(date +%s.%N) - $t0" | bc)
        if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; fi
    done
    printf '%.2f' "$b"
}

# The pair: unpack, run the command with a private network, GET until it answers, stop.
by_hand() {
    img=$1 port=$2
    shift 2
    rm -rf "$work/bundle"
    tag=$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$img/index.json")
    umoci unpack --image "$img:$tag" "$work/bundle" >/dev/null
    cfg=$work/bundle/config.json
    jq --argjson a "$(printf '%s\n' "$@" | jq -R . | jq -s .)" \
        --argjson caps '["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"]' \
        '.process.args = $a | .process.terminal = false
         | .process.capabilities = {"bounding": $caps, "effective": $caps, "permitted": $caps}
         | .process.user = {"uid": 0, "gid": 0}
         | .linux.namespaces |= (map(select(.type != "network")) + [{"type": "network"}])' \
        "$cfg" >"$cfg.new" && mv "$cfg.new" "$cfg"
    runc run -d --bundle "$work/bundle" bench-probe >/dev/null 2>&1 </dev/null
    pid=$(runc state bench-probe | jq -r .pid)
    i=0
    until nsenter -t "$pid" -n curl -fsS -o /dev/null "http://127.0.0.1:$port/"; do
        i=$((i + 1)); [ $i -lt 200 ] || break; sleep 0.05
    done
    runc kill bench-probe KILL 2>/dev/null || true; sleep 0.1
    runc delete --force bench-probe 2>/dev/null || true
    [ $i -lt 200 ] || { echo "probe.sh: $img did not answer on $port by hand" >&2; return 1; }
}

echo "| image | umoci unpack + runc run + one GET | slim rewrite --probe --verify | slim / pair |"
echo "| --- | ---: | ---: | ---: |"
row() {
    n=$1 port=$2
    shift 2
    img=$fix/$n.oci
    [ -d "$img" ] || return 0
    a=$(best by_hand "$img" "$port" "$@")
    b=$(best "$slim" rewrite -q "$img" --probe-http "$port/" --probe --verify -o "$work/slim.tar" --force)
    echo "| $n | $a s | $b s | $(echo "scale=2; $b / $a" | bc) |"
}
row nginx 80 nginx -g 'daemon off;'
row app-go 8082 /usr/local/bin/hello-go
row app-flask 8000 python3 main.py
