#!/bin/sh
# compare.sh - `slim analyze` time of two slim binaries on the fixture images,
# best of 3 each, in the same run (e.g. main's before a change, and after).
# usage: benches/compare.sh OLD_SLIM NEW_SLIM [FIXDIR]
set -eu
old=$1 new=$2
fix=${3:-${SLIM_FIXTURES:-/var/tmp/slim-fixtures}}
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
echo "| image | analyze, old | analyze, new | new / old |"
echo "| --- | ---: | ---: | ---: |"
for n in nginx curl python3 jre app-flask app-node app-java modules; do
    img=$fix/$n.oci.tar
    [ -e "$img" ] || img=$fix/$n.oci
    [ -e "$img" ] || continue
    a=$(best "$old" analyze -q "$img")
    b=$(best "$new" analyze -q "$img")
    echo "| $n | $a s | $b s | $(echo "scale=2; $b / $a" | bc) |"
done
