#!/bin/sh
# install-deps.sh - install the Debian packages ephport needs, only those
# missing.  `run` needs the build set; `check` adds what the tests use.
# clang, libbpf-dev and bpftool build the BPF iterators of src/host/bpf
# (meson -Dbpf=disabled builds without them, with slower fallbacks).
#   scripts/install-deps.sh build|check
set -eu
build_pkgs="gcc meson ninja-build pkg-config libmnl-dev libmicrohttpd-dev libjansson-dev
libsqlite3-dev libncurses-dev scdoc iproute2 clang libbpf-dev bpftool"
check_pkgs="$build_pkgs libcmocka-dev clang libclang-rt-dev nftables prometheus
libxml2-utils curl netcat-openbsd python3 sqlite3 procps"
case "${1:-build}" in
build) want=$build_pkgs ;;
check) want=$check_pkgs ;;
*) echo "usage: $0 build|check" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "install-deps: missing packages:$missing; run as root or install them" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
