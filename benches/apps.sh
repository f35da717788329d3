#!/bin/sh
# apps.sh - sizes of the application fixture images (fixtures/make-app.sh)
# before and after `slim rewrite`, as a Markdown table for the README.
# usage: benches/apps.sh [SLIM] [FIXDIR]
set -eu
slim=${1:-target/release/slim}
fix=${2:-${SLIM_FIXTURES:-/var/tmp/slim-fixtures}}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "| app | rewrite | fat, uncompressed | fat, gzip | slim, uncompressed | slim, gzip | regular files | shells | package managers |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for spec in "svc:--entrypoint=" "flask:" "node:--entrypoint=" "java:" "go:" "venv:" \
    'npm:--entrypoint=["node","server.js"]' 'health:--healthcheck=["CMD","curl","-fsS","http://localhost:8082/"]' \
    "javafont:"; do
    name=${spec%%:*} opt=${spec#*:}
    src=$fix/app-$name.oci
    [ -d "$src" ] || { echo "apps.sh: $src missing (fixtures/make-app.sh $fix $name)" >&2; continue; }
    # shellcheck disable=SC2086
    "$slim" rewrite -q $opt "$src" -o "$out/$name.tar" >/dev/null
    "$slim" analyze -q --format json "$src" >"$out/fat.json"
    "$slim" analyze -q --format json "$out/$name.tar" >"$out/slim.json"
    row() { jq -r "$1" "$out/fat.json" "$out/slim.json" | paste -sd' ' -; }
    read -r fu su <<EOT
$(row '.totals.uncompressed_size')
EOT
    read -r fg sg <<EOT
$(row '.totals.compressed_size')
EOT
    read -r ff sf <<EOT
$(row '.totals.files')
EOT
    read -r fs ss <<EOT
$(row '.shells | length')
EOT
    read -r fp sp <<EOT
$(row '.package_managers | length')
EOT
    echo "| $name | \`${opt:-(defaults)}\` | $(mib "$fu") | $(mib "$fg") | $(mib "$su") | $(mib "$sg") | $ff → $sf | $fs → $ss | $fp → $sp |"
done
