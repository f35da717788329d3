#!/bin/sh
# fuzz/run.sh [SECONDS] - fuzz the ELF reader, seeded with small real ELF files
# of this machine (stable toolchain: no sanitizer; panics are what is caught).
set -eu
cd "$(dirname "$0")/.."
mkdir -p fuzz/corpus/elf
for f in /usr/bin/true /usr/lib/x86_64-linux-gnu/libBrokenLocale.so.1 /usr/lib/x86_64-linux-gnu/libdl.so.2 \
         /usr/lib/x86_64-linux-gnu/gconv/UTF-7.so /usr/lib/x86_64-linux-gnu/libutil.so.1; do
    [ -f "$f" ] && cp "$f" "fuzz/corpus/elf/$(basename "$f")"
done
exec cargo fuzz run --sanitizer none elf fuzz/corpus/elf -- -max_total_time="${1:-120}" -max_len=65536
