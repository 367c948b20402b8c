#!/bin/sh
# update-symbols.sh BUILD - rewrite debian/*.symbols from the shared
# libraries in BUILD (nm -D: exactly the EP_API functions and data, which
# tests/check-exports.py holds the libraries to).  Run it after adding or
# removing an EP_API declaration; the package build (dpkg-gensymbols at
# check level 4) and tests/test-deb.sh fail while the files are stale.
# New symbols get the version in meson.build; existing lines keep theirs.
set -eu
build=${1:?usage: scripts/update-symbols.sh BUILD}
version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" meson.build | head -1)
for pair in ephport:libephport0:src/lib ephport-host:libephport-host0:src/host \
            ephport-natlog:libephport-natlog0:src/natlog; do
    lib=${pair%%:*}; rest=${pair#*:}; pkg=${rest%%:*}; dir=${rest#*:}
    so=$build/$dir/lib$lib.so
    out=debian/$pkg.symbols
    [ -f "$so" ] || { echo "update-symbols: $so not built" >&2; exit 1; }
    tmp=$(mktemp)
    {
        echo "lib$lib.so.0 $pkg #MINVER#"
        echo "* Build-Depends-Package: libephport-dev"
        nm -D --defined-only "$so" | awk '{print $3}' | sort | while read -r sym; do
            old=$(grep -E "^ $sym@Base " "$out" 2>/dev/null | awk '{print $2}' || true)
            echo " $sym@Base ${old:-$version}"
        done
    } >"$tmp"
    mv "$tmp" "$out"
done
