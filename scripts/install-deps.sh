#!/bin/sh
# install-deps.sh - install the Debian packages ephport needs, only those
# missing.  `run` needs the build set; `check` adds what the tests use.
# clang, libbpf-dev and bpftool build the BPF iterators of src/host/bpf
# (meson -Dbpf=disabled builds without them, with slower fallbacks).
# Not root: through sudo when it lets us; otherwise (no sudo rights, no
# sudo) it prints the one command an administrator must run, and exits 1.
# dpdk-dev (check only): rte_thash.h, the independent Toeplitz of test-rss-dpdk.
# dpkg-dev, debhelper, lintian (check only): tests/test-deb.sh builds and
# checks the Debian package.  debian/control's Build-Depends repeat the build
# list (test-deb.sh compares them).
#   scripts/install-deps.sh build|check
set -eu
build_pkgs="gcc meson ninja-build pkg-config libmnl-dev libmicrohttpd-dev libjansson-dev
libsqlite3-dev libpq-dev libncurses-dev scdoc iproute2 clang libbpf-dev bpftool"
check_pkgs="$build_pkgs libcmocka-dev clang libclang-rt-dev nftables
libxml2-utils curl netcat-openbsd python3 sqlite3 postgresql procps dpdk-dev
dpkg-dev debhelper lintian"
case "${1:-build}" in
build) want=$build_pkgs ;;
check) want=$check_pkgs ;;
*) echo "usage: $0 build|check" >&2; exit 2 ;;
esac
# promtool (check): extracted from the prometheus package, which is not
# installed (it would enable a Prometheus server): scripts/get-promtool.sh.
get_promtool() {
    [ "${1:-build}" != check ] || "$(dirname "$0")/get-promtool.sh"
}
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -z "$missing" ]; then get_promtool "${1:-build}"; exit 0; fi
# What an administrator must run when we cannot: one line to copy.
admin_cmd="apt-get update && apt-get install -y --no-install-recommends$missing"
tell_admin() {
    echo "install-deps: missing packages:$missing" >&2
    echo "install-deps: $1; ask an administrator to run, as root:" >&2
    echo "    $admin_cmd" >&2
    echo "install-deps: then run this command again." >&2
    exit 1
}
command -v apt-get >/dev/null 2>&1 ||
    tell_admin "this system has no apt-get (the package names above are Debian's)"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        tell_admin "you are not root and sudo is not installed"
    elif sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    elif [ -t 0 ] && sudo -v; then
        SUDO="sudo"   # asked for a password on the terminal and got it
    else
        tell_admin "you are not root and sudo would not let you install them (no sudo rights, or a password with no terminal to ask it on)"
    fi
fi
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
get_promtool "${1:-build}"
