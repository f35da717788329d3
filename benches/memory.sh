#!/bin/sh
# memory.sh - peak RSS (GNU time's %M) and wall time of every command that
# reads a whole image, on the fixture images, the big one (make-fixtures.sh
# big: a JRE, nodejs, numpy and gcc, 840 MB of tar) and the synthetic one
# (benches/make-synthetic.sh: 110,000 files, 2.4 GB of tar).
# usage: benches/memory.sh [SLIM] [FIXDIR]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
slim=${1:-$here/target/release/slim}
fix=${2:-${SLIM_FIXTURES:-/var/tmp/slim-fixtures}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '[licenses]\ndeny = ["GPL-3.0-only"]\nunlisted = "warn"\n' > "$work/policy.toml"

run() { # run ARGS... -> "RSS MiB / seconds" (and the exit status unless 0;
    # audit exits 1 when the policy denies a package, which is a result)
    rm -rf "$work/out.tar"
    st=0
    /usr/bin/time -f '%M %e' -o "$work/t" "$slim" "$@" >/dev/null 2>&1 || st=$?
    read -r kib secs <<EOF
$(tail -n 1 "$work/t")
EOF
    printf '%d MiB / %s s' $((kib / 1024)) "$secs"
    [ "$st" = 0 ] || [ "$1" = audit ] || printf ' (exit %s)' "$st"
}

echo "| image | files | ls | analyze | sbom | audit | rewrite |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for n in nginx jre app-node big synthetic; do
    img=$fix/$n.oci.tar
    [ -e "$img" ] || img=$fix/$n.oci
    [ -e "$img" ] || continue
    files=$("$slim" ls -q "$img" | wc -l)
    # The node app's entrypoint is the official docker-entrypoint.sh wrapper.
    entry=--layers=1
    [ "$n" = app-node ] && entry=--entrypoint=
    echo "| $n | $files | $(run ls -q "$img") | $(run analyze -q "$img") | $(run sbom -q "$img") \
| $(run audit -q --policy "$work/policy.toml" "$img") | $(run rewrite -q "$img" --to distroless "$entry" -o "$work/out.tar") |"
done
