#!/bin/sh
# compare.sh - `slim analyze` (or, with WHAT=rewrite, `slim rewrite --to
# distroless` to an OCI layout on a tmpfs) time of two slim binaries on the
# fixture images, best of 3 each, in the same run (e.g. main's before a
# change, and after).
# usage: [WHAT=rewrite] benches/compare.sh OLD_SLIM NEW_SLIM [FIXDIR]
set -eu
old=$1 new=$2
fix=${3:-${SLIM_FIXTURES:-/var/tmp/slim-fixtures}}
what=${WHAT:-analyze}
out=$(mktemp -d -p "$( [ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")")
trap 'rm -rf "$out"' EXIT
run() { # run SLIM IMAGE
    if [ "$what" = rewrite ]; then
        rm -rf "$out/o"
        # --force: an image slim would refuse is written anyway (the same work).
        "$1" rewrite -q --force --to distroless "$2" -o "oci:$out/o:x" 2>/dev/null
    else
        "$1" analyze -q "$2"
    fi
}
best() {
    b=
    for _ in 1 2 3; do
        t0=$(date +%s.%N)
        "$@" >/dev/null
        t=$(echo "$(date +%s.%N) - $t0" | bc)
        if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; fi
    done
    printf '%.2f' "$b"
}
echo "| image | $what, old | $what, new | new / old |"
echo "| --- | ---: | ---: | ---: |"
for n in nginx curl python3 jre app-flask app-node app-java modules multi; do
    img=$fix/$n.oci.tar
    [ -e "$img" ] || img=$fix/$n.oci
    [ -e "$img" ] || continue
    a=$(best run "$old" "$img")
    b=$(best run "$new" "$img")
    echo "| $n | $a s | $b s | $(echo "scale=2; $b / $a" | bc) |"
done
