#!/bin/sh
# get-promtool.sh - promtool for the exporter test (tests/test-exporter.c),
# without a Prometheus server.  Debian 12 ships promtool only inside the
# `prometheus` package, whose installation enables (and on a systemd host
# starts) the server; so this downloads that package (apt-get download: no
# root needed) and extracts promtool alone into .deps/bin/ of the source
# tree, which the test looks in first.  Nothing is installed on the system.
# Called by scripts/install-deps.sh check.  Exit 0 when .deps/bin/promtool
# runs (or already did), 1 with the reason otherwise.
#   scripts/get-promtool.sh
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=$repo/.deps/bin
"$dir/promtool" --version >/dev/null 2>&1 && exit 0
for tool in apt-get dpkg-deb tar; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "get-promtool: $tool is not installed; promtool comes from Debian's prometheus package" >&2
        exit 1
    }
done
tmp=$(mktemp -d /tmp/ephport-promtool.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"   # apt's download sandbox (user _apt) writes here
download() { (cd "$tmp" && apt-get download -qq prometheus) >/dev/null 2>"$tmp/err"; }
if ! download; then
    # Stale or missing package lists: refresh them if we may, once.
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && download
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo -n apt-get update -qq && download
    else false
    fi || {
        echo "get-promtool: apt-get download prometheus failed: $(cat "$tmp/err")" >&2
        echo "get-promtool: if the package lists are stale, ask an administrator to run: apt-get update" >&2
        exit 1
    }
fi
deb=$(ls "$tmp"/prometheus_*.deb)
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" ./usr/bin/promtool
mkdir -p "$dir"
cp "$tmp/usr/bin/promtool" "$dir/promtool.new"
chmod 755 "$dir/promtool.new"
mv "$dir/promtool.new" "$dir/promtool"
"$dir/promtool" --version >/dev/null || { echo "get-promtool: the extracted promtool does not run" >&2; exit 1; }
echo "get-promtool: promtool from $(basename "$deb") in $dir (no Prometheus server installed)" >&2
