#!/bin/sh
# test-install.sh - suite install: `make install` honours PREFIX and DESTDIR,
# and what it installs is usable.  Runs the Makefile target into a temporary
# PREFIX under a temporary DESTDIR (a release build of its own), then:
#   - every promised file is there: the three libraries (shared with their
#     soname links, and static), the public headers, three pkg-config files,
#     the binary, the preload shim, a man page per command;
#   - each program in examples/ builds against its library with
#     `pkg-config --cflags --libs` and nothing else, and runs;
#   - the installed binary runs, and finds its shim where it was installed.
# Usage: test-install.sh SOURCE_ROOT
set -eu
src=$1
t=$(mktemp -d /tmp/ephport-install-test.XXXXXX)
trap 'rm -rf "$t"' EXIT
prefix=$t/prefix
dest=$t/dest

fail() { echo "test-install: $*" >&2; exit 1; }

make -C "$src" --no-print-directory install PREFIX="$prefix" DESTDIR="$dest" \
    INSTALL_BUILD="$t/build" >"$t/make.log" 2>&1 || { cat "$t/make.log" >&2; fail "make install failed"; }

root=$dest$prefix
[ -d "$root" ] || fail "nothing under DESTDIR/PREFIX ($root)"
[ ! -e "$prefix" ] || fail "make install wrote into PREFIX itself despite DESTDIR"
libdir=$(cd "$root" && ls -d lib/*/pkgconfig lib/pkgconfig 2>/dev/null | head -1)
[ -n "$libdir" ] || fail "no pkg-config folder under $root/lib"
libdir=$root/${libdir%/pkgconfig}

for lib in ephport ephport-host ephport-natlog; do
    [ -f "$libdir/pkgconfig/$lib.pc" ] || fail "$lib.pc missing"
    [ -f "$libdir/lib$lib.a" ] || fail "lib$lib.a missing"
    [ -L "$libdir/lib$lib.so" ] || fail "lib$lib.so (development link) missing"
    [ -L "$libdir/lib$lib.so.0" ] || fail "lib$lib.so.0 (soname link) missing"
    soname=$(readelf -d "$libdir/lib$lib.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [ "$soname" = "lib$lib.so.0" ] || fail "lib$lib.so has soname '$soname'"
done
for h in "$src"/src/*/include/ephport/*.h; do   # every library's public headers
    h=$(basename "$h")
    [ -f "$root/include/ephport/$h" ] || fail "include/ephport/$h missing"
done
[ -x "$root/bin/ephport" ] || fail "bin/ephport missing"
[ -f "$libdir/ephport/libephport-preload.so" ] || fail "the preload shim is missing"
for scd in "$src"/doc/*.scd; do                 # a man page per command
    page=$(basename "$scd" .scd)
    [ -f "$root/share/man/man1/$page" ] || fail "man page $page missing"
done

# The installed .pc files say prefix=$prefix; the sysroot maps that into
# DESTDIR (system packages such as jansson resolve in system folders, which
# pkg-config leaves out of the flags).
export PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest"
export LD_LIBRARY_PATH="$libdir"
build() {  # build NAME PKG: examples/NAME.c against pkg-config PKG only
    # shellcheck disable=SC2046
    cc -std=c11 -Wall -Wextra -Werror -o "$t/$1" "$src/examples/$1.c" \
        $(pkg-config --cflags --libs "$2") || fail "examples/$1.c does not build with pkg-config $2"
}
build engine-connect ephport
build host-status ephport-host
build natlog-whois ephport-natlog
"$t/engine-connect" >"$t/out" || fail "engine-connect failed: $(cat "$t/out")"
grep -q "granted 10 ports, then EADDRNOTAVAIL" "$t/out" || fail "engine-connect said: $(cat "$t/out")"
"$t/host-status" >"$t/out" || fail "host-status failed: $(cat "$t/out")"
grep -q "^range " "$t/out" || fail "host-status said: $(cat "$t/out")"
"$t/natlog-whois" "$t/log.db" >"$t/out" || fail "natlog-whois failed: $(cat "$t/out")"
grep -q "one minute in: 100.64.0.7" "$t/out" || fail "natlog-whois said: $(cat "$t/out")"
# Each example needs only its own library (and what that library needs).
readelf -d "$t/engine-connect" | grep -q 'libephport-host\|libephport-natlog\|libmnl\|libsqlite3' &&
    fail "engine-connect links more than libephport"

"$root/bin/ephport" --version >"$t/out" || fail "the installed ephport does not run"
echo "test-install: PREFIX=$prefix under DESTDIR: libraries, headers, pkg-config, binary, shim," \
     "man pages installed; examples built with pkg-config and ran"
