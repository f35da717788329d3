#!/bin/sh
# make-synthetic.sh - a synthetic image as big as real ML/SDK images, for the
# memory benches: over 100,000 files and 2 GiB of tar in one gzip layer.
#   - 40,000 ELF shared libraries (a small library built here with gcc, each
#     copy under its own name and soname-free path), half of them imported by
#     nothing, half in a library directory the entrypoint's RUNPATH names;
#   - 70,000 small data files (text, 1-3 KiB);
#   - 1.75 GiB of large data files (pseudo-random, incompressible, 7 x 256 MiB);
#   - the host's dynamic loader, libc and a program built here as Entrypoint.
# Writes FIXDIR/synthetic.oci.tar (an oci-archive) once; reuses it after.
# usage: benches/make-synthetic.sh [FIXDIR]
set -eu
fix=${1:-${SLIM_FIXTURES:-/var/tmp/slim-fixtures}}
out=$fix/synthetic.oci.tar
[ -f "$out" ] && { echo "$out" ; exit 0; }
mkdir -p "$fix"
work=$(mktemp -d "$fix/.synthetic-XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/usr/lib/x86_64-linux-gnu" "$root/usr/bin" "$root/usr/lib64" "$root/opt/app/lib" "$root/srv/data" "$root/usr/share/blobs"
ln -s usr/lib "$root/lib"; ln -s usr/lib64 "$root/lib64"; ln -s usr/bin "$root/bin"
cp /lib/x86_64-linux-gnu/libc.so.6 "$root/usr/lib/x86_64-linux-gnu/"
cp /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$root/usr/lib/x86_64-linux-gnu/"
ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$root/usr/lib64/ld-linux-x86-64.so.2"
printf 'int plugin(void) { return 42; }\n' > "$work/p.c"
gcc -shared -fPIC -O2 -o "$work/libplugin.so" "$work/p.c"
printf 'int plugin(void);\nint main(void) { return plugin() == 42 ? 0 : 1; }\n' > "$work/m.c"
gcc -o "$root/usr/bin/app" "$work/m.c" -L"$work" -l:libplugin.so -Wl,-rpath,/opt/app/lib
cp "$work/libplugin.so" "$root/opt/app/lib/libplugin.so"
python3 - "$root/opt/app" "$work/libplugin.so" <<'EOF'
import os, shutil, sys
app, lib = sys.argv[1], sys.argv[2]
for i in range(200):  # 200 directories x 200 libraries
    d = os.path.join(app, "lib", f"set{i}") if i % 2 == 0 else os.path.join(app, "plugins", str(i))
    os.makedirs(d, exist_ok=True)
    for j in range(200):
        shutil.copyfile(lib, os.path.join(d, f"libp{j}.so"))
EOF
python3 - "$root/srv/data" <<'EOF'
import os, sys, random
root = sys.argv[1]
random.seed(7)
words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
for d in range(700):
    p = os.path.join(root, f"d{d:03}")
    os.makedirs(p, exist_ok=True)
    for f in range(100):
        n = random.randint(100, 300)
        with open(os.path.join(p, f"r{f:03}.txt"), "w") as fh:
            fh.write(" ".join(random.choice(words) for _ in range(n)))
EOF
k=0
while [ $k -lt 7 ]; do
    head -c 268435456 /dev/urandom > "$root/usr/share/blobs/blob$k.bin"
    k=$((k + 1))
done
tar --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$work/layer.tar" .
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -1 -n -c "$work/layer.tar" > "$work/layer.tar.gz"
rm "$work/layer.tar"
lay=$work/layout
mkdir -p "$lay/blobs/sha256"
blob() { # blob FILE -> moves it into the layout, prints "digest size"
    h=$(sha256sum "$1" | cut -d' ' -f1)
    s=$(stat -c %s "$1")
    mv "$1" "$lay/blobs/sha256/$h"
    echo "$h $s"
}
set -- $(blob "$work/layer.tar.gz")
lh=$1 ls_=$2
printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/usr/bin/app"],"Env":["PATH=/usr/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diff_id" > "$work/config.json"
set -- $(blob "$work/config.json")
ch=$1 cs=$2
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' "$ch" "$cs" "$lh" "$ls_" > "$work/manifest.json"
set -- $(blob "$work/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"1"}}]}' "$1" "$2" > "$lay/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' > "$lay/oci-layout"
tar -C "$lay" -cf "$out.tmp" oci-layout index.json blobs
mv "$out.tmp" "$out"
echo "$out"
