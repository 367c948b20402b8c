#!/bin/sh
# test-deb.sh - suite install: the Debian package (debian/) builds from the
# tree and holds what it should.  Copies the working tree (tracked and
# untracked files, not what .gitignore leaves out: build folders) to a
# temporary folder, runs `dpkg-buildpackage -us -uc -b` there (with the
# unit tests, as a package build runs them), then:
#   - debian/control's Build-Depends are scripts/install-deps.sh's build
#     list, and debian/changelog's version is meson.build's;
#   - each .deb holds exactly its files (dpkg-deb -c): the tool (binary,
#     exec shim, one man page per doc/*.1.scd), one shared library per
#     runtime package, every public header, .so link, .a and .pc in -dev;
#     nothing else, and no file names the build folder;
#   - its fields (dpkg-deb -I): architecture, Multi-Arch, section, the
#     library dependencies, and symbols/shlibs/triggers for the libraries;
#   - lintian reports no error or warning;
#   - unpacked into a throwaway root (dpkg-deb -x): the binary runs, looks
#     for its shim where the package put it, and (as root, in a private
#     mount and network namespace with that root laid over /usr) runs a
#     program whose sockets the shim confines; each program in examples/
#     builds with pkg-config against the -dev package and runs against the
#     runtime packages.
# A missing tool or build dependency is a skip (exit 77, "SKIP: reason" on
# stderr), except with CI=true as root, where it fails.
# Usage: test-deb.sh SOURCE_ROOT
set -eu
src=$(cd "$1" && pwd)
t=$(mktemp -d /tmp/ephport-deb-test.XXXXXX)
trap 'rm -rf "$t"' EXIT

fail() { echo "test-deb: $*" >&2; exit 1; }
skip() {
    if [ "${CI:-}" = true ] && [ "$(id -u)" = 0 ]; then
        fail "cannot run ($*), and CI=true as root allows no skip; scripts/install-deps.sh check installs what it needs"
    fi
    echo "SKIP: $*" >&2
    exit 77
}

# --- the lists debian/ must agree with (no tools needed) ---
# Build-Depends without versions and architecture/profile qualifiers, less
# debhelper and what only the tests need (<!nocheck>); gcc is not listed
# (build-essential).
control_deps=$(sed -n '/^Build-Depends:/,/^[^ ]/{s/^Build-Depends://;/^[^ ]/!p;}' "$src/debian/control" |
    tr ',' '\n' | grep -v '<!nocheck>' | sed 's/[[(<].*//; s/[[:space:]]//g' |
    grep -v '^$' | grep -v '^debhelper-compat$' | sort)
script_deps=$(sed -n '/^build_pkgs="/,/"/p' "$src/scripts/install-deps.sh" |
    sed 's/^build_pkgs="//; s/"$//' | tr ' ' '\n' | grep -v '^$' | grep -v '^gcc$' | sort)
[ "$control_deps" = "$script_deps" ] ||
    fail "debian/control Build-Depends and scripts/install-deps.sh's build list differ:
$(printf '%s\n' "$control_deps" >"$t/a"; printf '%s\n' "$script_deps" >"$t/b"; diff "$t/a" "$t/b")"
version=$(sed -n "s/^  version : '\([^']*\)'.*/\1/p" "$src/meson.build" | head -1)
[ -n "$version" ] || fail "no version in meson.build"
deb_version=$(sed -n '1s/^ephport (\([^)]*\)).*/\1/p' "$src/debian/changelog")
[ "$deb_version" = "$version" ] ||
    fail "debian/changelog says $deb_version, meson.build $version: add a changelog entry (dch -v $version)"

# --- tools ---
for tool in dpkg-buildpackage dpkg-checkbuilddeps dpkg-deb dpkg-architecture dh lintian pkg-config cc nm ldd; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (scripts/install-deps.sh check)"
done

# --- the tree, copied ---
pkgsrc=$t/ephport-$version
mkdir "$pkgsrc"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Files deleted in the working tree but still tracked are left out.
    git -C "$src" ls-files -z --cached --others --exclude-standard |
        (cd "$src" && tar -c --null -T - --ignore-failed-read -f - 2>/dev/null) |
        tar -x -C "$pkgsrc"
else
    (cd "$src" && tar -c --exclude='./build*' --exclude='./obj-*' --exclude='./.deps' -f - .) | tar -x -C "$pkgsrc"
fi
missing=$(cd "$pkgsrc" && dpkg-checkbuilddeps 2>&1) ||
    skip "build dependencies missing: ${missing#*: }"

ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
jobs=$(nproc 2>/dev/null || echo 1)
[ "$jobs" -le 2 ] || jobs=2
(cd "$pkgsrc" && DEB_BUILD_OPTIONS="parallel=$jobs" dpkg-buildpackage -us -uc -b) >"$t/build.log" 2>&1 ||
    { tail -60 "$t/build.log" >&2; fail "dpkg-buildpackage failed (the log's end above)"; }
grep -q "meson test --suite unit" "$t/build.log" || fail "the package build ran no unit tests"

deb() { echo "$t/${1}_${version}_$arch.deb"; }
packages="ephport libephport0 libephport-host0 libephport-natlog0 libephport-dev"
for p in $packages; do [ -f "$(deb "$p")" ] || fail "no package $p"; done
# Nothing else was built but the automatic debug-symbol packages.
for f in "$t"/*.deb; do
    p=$(basename "$f"); p=${p%%_*}
    case " $packages " in *" $p "* | *" ${p%-dbgsym} "*) continue ;; esac
    fail "unexpected package $p"
done

# --- contents: exactly the expected files (directories aside) ---
contents() {  # the files and links of a .deb, one a line: path or "path -> target"
    dpkg-deb -c "$(deb "$1")" | awk '$1 !~ /^d/ { $1=$2=$3=$4=$5=""; sub(/^ +/, ""); print }' |
        sed 's|^\./|/|' | sort
}
expect() {  # expect PKG: compare with the list on stdin
    sort >"$t/want"
    contents "$1" >"$t/got"
    diff -u "$t/want" "$t/got" >"$t/diff" ||
        fail "$1 holds other files than expected (- missing, + stray):
$(cat "$t/diff")"
}
docs() { printf '/usr/share/doc/%s/changelog.gz\n/usr/share/doc/%s/copyright\n' "$1" "$1"; }
{
    echo /usr/bin/ephport
    echo "/usr/lib/$ma/ephport/libephport-preload.so"
    for scd in "$src"/doc/*.1.scd; do
        n=$(basename "$scd" .scd); echo "/usr/share/man/man1/$n.gz"
    done
    docs ephport
} | expect ephport
for lib in ephport ephport-host ephport-natlog; do
    {
        echo "/usr/lib/$ma/lib$lib.so.$version"
        echo "/usr/lib/$ma/lib$lib.so.0 -> lib$lib.so.$version"
        docs "lib${lib}0"
    } | expect "lib${lib}0"
done
{
    for h in "$src"/src/*/include/ephport/*.h; do echo "/usr/include/ephport/$(basename "$h")"; done
    for lib in ephport ephport-host ephport-natlog; do
        echo "/usr/lib/$ma/lib$lib.a"
        echo "/usr/lib/$ma/lib$lib.so -> lib$lib.so.0"
        echo "/usr/lib/$ma/pkgconfig/$lib.pc"
    done
    docs libephport-dev
} | expect libephport-dev

root=$t/root
mkdir "$root"
for f in "$t"/*.deb; do dpkg-deb -x "$f" "$root"; done
grep -rlF "$t/" "$root" >"$t/paths" &&
    fail "files name the build folder $pkgsrc:
$(cat "$t/paths")"

# --- fields ---
field() { dpkg-deb -f "$(deb "$1")" "$2"; }
for p in $packages; do
    [ "$(field "$p" Architecture)" = "$arch" ] || fail "$p: Architecture $(field "$p" Architecture)"
    [ "$(field "$p" Version)" = "$version" ] || fail "$p: Version $(field "$p" Version)"
done
[ "$(field ephport Multi-Arch)" = foreign ] || fail "ephport: Multi-Arch is not foreign"
[ "$(field ephport Section)" = net ] || fail "ephport: Section $(field ephport Section)"
for p in libephport0 libephport-host0 libephport-natlog0 libephport-dev; do
    [ "$(field "$p" Multi-Arch)" = same ] || fail "$p: Multi-Arch is not same"
done
for lib in ephport ephport-host ephport-natlog; do
    p=lib${lib}0
    [ "$(field "$p" Section)" = libs ] || fail "$p: Section $(field "$p" Section)"
    dpkg-deb -I "$(deb "$p")" >"$t/info"
    for c in symbols shlibs triggers md5sums; do
        grep -q "^ *[0-9]* bytes, *[0-9]* lines *$c" "$t/info" || fail "$p has no $c control file"
    done
    dpkg-deb --ctrl-tarfile "$(deb "$p")" | tar -xO ./symbols >"$t/symbols"
    grep -q "^lib$lib.so.0 $p #MINVER#" "$t/symbols" || fail "$p: symbols file is not for lib$lib.so.0"
    # The symbols file lists exactly the library's dynamic symbols.
    sed -n 's/^ \([^@]*\)@Base .*/\1/p' "$t/symbols" | sort >"$t/want"
    nm -D --defined-only "$root/usr/lib/$ma/lib$lib.so.$version" | awk '$2 ~ /^[TtDdBbRri]$/ {print $3}' |
        sort >"$t/got"
    diff -u "$t/want" "$t/got" >/dev/null || fail "$p: symbols file and lib$lib.so exports differ"
done
# The engine needs libc alone; the others need the engine and their own.
deps=$(field libephport0 Depends)
case $deps in "libc6 "*) ;; *) fail "libephport0 depends on '$deps'" ;; esac
case $deps in *,*) fail "libephport0 depends on more than libc6: $deps" ;; esac
for want in libephport0 libmnl0 libjansson4; do
    field libephport-host0 Depends | grep -q "$want" || fail "libephport-host0 does not depend on $want"
done
for want in libephport0 libsqlite3-0; do
    field libephport-natlog0 Depends | grep -q "$want" || fail "libephport-natlog0 does not depend on $want"
done
for want in "libephport0 (= $version)" "libephport-host0 (= $version)" "libephport-natlog0 (= $version)" \
            libjansson-dev libmnl-dev libsqlite3-dev; do
    field libephport-dev Depends | grep -qF "$want" || fail "libephport-dev does not depend on $want"
done

# --- lintian ---
lintian --fail-on error,warning -I --pedantic "$t/ephport_${version}_$arch.changes" >"$t/lintian" 2>&1 ||
    fail "lintian:
$(cat "$t/lintian")"

# --- the tool, unpacked ---
out=$("$root/usr/bin/ephport" --version) || fail "the packaged ephport does not run"
[ "$out" = "ephport $version" ] || fail "ephport --version says '$out'"
shim=/usr/lib/$ma/ephport/libephport-preload.so
# With no shim next to it (../preload/) and none at the install path, exec
# names the path compiled in: it must be where the package puts the shim.
if [ ! -e "$shim" ]; then
    "$root/usr/bin/ephport" exec --range 40000-40999 -- true 2>"$t/err" && fail "exec ran without its shim"
    grep -qF "at $shim)" "$t/err" || fail "exec looks for its shim elsewhere: $(cat "$t/err")"
fi
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v python3 >/dev/null; then
    # The packaged /usr laid over the real one, in namespaces of our own:
    # the binary finds the shim at its compiled-in path, and the shim gives
    # a UDP socket of python3 a port inside the range.
    cat >"$t/in-ns.sh" <<EOF
set -e
mount --make-rprivate /
mount -t overlay overlay -o lowerdir=$root/usr:/usr /usr
ip link set lo up
exec /usr/bin/ephport exec --range 40100-40199 -- python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("127.0.0.1", 9))
print(s.getsockname()[1])'
EOF
    port=$(unshare -m -n sh "$t/in-ns.sh" 2>"$t/err") ||
        fail "ephport exec with the packaged shim failed: $(cat "$t/err")"
    case $port in
    401[0-9][0-9]) ;;
    *) fail "under the packaged shim a socket got port '$port', outside 40100-40199" ;;
    esac
else
    echo "SKIP: the packaged shim run under ephport exec (needs root, unshare, python3)" >&2
fi

# --- the examples against the -dev package ---
export PKG_CONFIG_PATH="$root/usr/lib/$ma/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root"
export LD_LIBRARY_PATH="$root/usr/lib/$ma"
pkg-config --cflags ephport | grep -qF -- "-I$root/usr/include" ||
    fail "pkg-config ephport does not point into the package: $(pkg-config --cflags ephport)"
build() {  # build NAME PKG: examples/NAME.c against pkg-config PKG only
    # shellcheck disable=SC2046
    cc -std=c11 -Wall -Wextra -Werror -o "$t/$1" "$src/examples/$1.c" \
        $(pkg-config --cflags --libs "$2") || fail "examples/$1.c does not build with pkg-config $2"
    ldd "$t/$1" | grep 'libephport' | grep -vqF "$root/" &&
        fail "$1 loads a libephport from outside the package: $(ldd "$t/$1" | grep libephport)"
    return 0
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

echo "test-deb: $packages $version ($arch) built with the unit tests; contents, fields," \
     "lintian, the unpacked binary and shim, and the examples against -dev checked"
