#!/bin/sh
# run-fuzzers.sh BUILD SECONDS - run every fuzz target built in BUILD/fuzz for
# SECONDS each, starting from its seed corpus under fuzz/corpus/<name>/.
# Fails if any target crashes, leaks or times out.
set -eu
build=$1
secs=$2
found=0
for f in "$build"/fuzz/fuzz-*; do
    [ -f "$f" ] && [ -x "$f" ] || continue
    found=1
    name=$(basename "$f")
    corpus=$(mktemp -d)
    seeds="fuzz/corpus/${name#fuzz-}"
    [ -d "$seeds" ] && cp -r "$seeds"/. "$corpus"/
    echo "fuzz: $name for ${secs}s"
    "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
        "$corpus" 2>"$corpus.log" || { tail -50 "$corpus.log"; rm -rf "$corpus"; exit 1; }
    rm -rf "$corpus" "$corpus.log"
done
[ "$found" = 1 ] || echo "fuzz: no fuzz targets built"
