#!/bin/sh
# fuzz/run.sh [SECONDS] [TARGET] - fuzz a reader (stable toolchain: no sanitizer;
# panics are what is caught). TARGET: elf (default), seeded with small real ELF
# files of this machine; rpmdb, seeded with a small rpmdb.sqlite and header blobs
# rpm itself wrote, as sqlite and BerkeleyDB files (needs rpm, rpmbuild, sqlite3
# and db5.3-util: fixtures/install-deps.sh); glob, the matcher of image-controlled
# patterns (a crafted ld.so.conf include), seeded with that pattern.
set -eu
cd "$(dirname "$0")/.."
target=${2:-elf}
mkdir -p "fuzz/corpus/$target"
case $target in
elf)
    for f in /usr/bin/true /usr/lib/x86_64-linux-gnu/libBrokenLocale.so.1 /usr/lib/x86_64-linux-gnu/libdl.so.2 \
             /usr/lib/x86_64-linux-gnu/gconv/UTF-7.so /usr/lib/x86_64-linux-gnu/libutil.so.1; do
        [ -f "$f" ] && cp "$f" "fuzz/corpus/elf/$(basename "$f")"
    done
    max=65536
    ;;
rpmdb)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    fixtures/make-rpm-root.sh "$tmp/r" 3 2>/dev/null
    db=$tmp/r/root/usr/lib/sysimage/rpm/rpmdb.sqlite
    # A 512-byte-page copy of three packages keeps seeds small.
    sqlite3 "$tmp/small.sqlite" "PRAGMA page_size=512; ATTACH '$db' AS o;
        CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);
        INSERT INTO Packages SELECT * FROM o.Packages WHERE hnum <= 3;"
    { printf '\001'; cat "$tmp/small.sqlite"; } >fuzz/corpus/rpmdb/sqlite
    # The same three in a BerkeleyDB file of 512-byte pages.
    {
        printf 'VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=512\nHEADER=END\n'
        sqlite3 -separator ' ' "$tmp/small.sqlite" "SELECT hnum, lower(hex(blob)) FROM Packages" |
            while read -r k hex; do printf ' %02x000000\n %s\n' "$k" "$hex"; done
        printf 'DATA=END\n'
    } | db5.3_load "$tmp/Packages"
    { printf '\003'; cat "$tmp/Packages"; } >fuzz/corpus/rpmdb/bdb
    for i in 1 2 3; do
        { printf '\000'; sqlite3 "$db" "SELECT hex(blob) FROM Packages WHERE hnum = $i" | xxd -r -p; } >"fuzz/corpus/rpmdb/header-$i"
    done
    max=262144
    ;;
glob)
    printf '*a*a*a*a*a*a*a*a*b\000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' >fuzz/corpus/glob/crafted
    printf '/usr/**/lib/*.so*\000/usr/lib/x86_64-linux-gnu/libc.so.6' >fuzz/corpus/glob/lib
    max=4096
    ;;
*) echo "fuzz/run.sh: unknown target $target (elf, rpmdb, glob)" >&2; exit 2 ;;
esac
exec cargo fuzz run --sanitizer none "$target" "fuzz/corpus/$target" -- -max_total_time="${1:-120}" -max_len=$max
