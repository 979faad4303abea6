#!/bin/sh
# Installs the Debian 12 packages seoib needs to build and test, if any are
# missing.  As root it runs apt-get; otherwise it prints the command to run.
set -eu

# The last line is contrib/qemu's fork build (Debian's QEMU 7.2 source).
packages="meson ninja-build g++ pkg-config python3 binutils
libglib2.0-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
qemu-system-x86 qemu-utils
gcc abigail-tools
dpkg-dev patch xz-utils libpixman-1-dev libfdt-dev"

missing=""
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
else
    echo "missing Debian packages:$missing" >&2
    echo "run as root: apt-get update && apt-get install -y$missing" >&2
    exit 1
fi
