#!/bin/sh
# The C API as a user gets it: `meson install` into a temporary directory,
# then pkg-config (or meson's dependency()) against what was installed.
#
#   capi-test.sh MODE BUILD_ROOT SOURCE_ROOT SEOIB_VM
#
# MODE:
#   header     the header alone, as C11 (gcc and clang, -pedantic) and C++
#   sequence   tests/capi/rfc-sequence.c, linked against the installed .so,
#              agreeing with seoib-vm
#   consumer   tests/capi/meson-consumer: dependency('seoib')
#   errors     tests/capi/errors.c under ASan+UBSan, against the installed
#              static archive (and then the shared library)
#   exports    nm -D: only seoib_* symbols, and the soname
#
# Exit 77 (skipped) only when a tool this needs is missing, saying which;
# scripts/install-deps.sh installs them all.
set -eu

mode=$1 build=$2 src=$3 vm=$4
cc=${CC:-cc}

need() {
    for t in "$@"; do
        if ! command -v "$t" >/dev/null 2>&1; then
            echo "SKIP: $t not found (scripts/install-deps.sh installs it)"
            exit 77
        fi
    done
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/seoib-capi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

install_seoib() {
    need pkg-config
    meson install -C "$build" --no-rebuild --quiet --destdir "$tmp/root" >"$tmp/install.log" 2>&1 ||
        { cat "$tmp/install.log"; exit 1; }
    pc=$(find "$tmp/root" -name seoib.pc | head -n 1)
    [ -n "$pc" ] || { echo "FAIL: meson install put no seoib.pc"; exit 1; }
    PKG_CONFIG_PATH=$(dirname "$pc")
    export PKG_CONFIG_PATH
    # The .pc names the configured prefix; the files are under the
    # destdir.  pkg-config's sysroot handling maps one onto the other.
    PKG_CONFIG_SYSROOT_DIR="$tmp/root"
    export PKG_CONFIG_SYSROOT_DIR
    libdir=$(cd "$(dirname "$pc")/.." && pwd)
}

case $mode in
header)
    need gcc g++
    h="$src/include/seoib/seoib.h"
    gcc -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only -x c "$h"
    g++ -std=c++17 -Wall -Wextra -Werror -pedantic -fsyntax-only -x c++ "$h"
    if command -v clang >/dev/null 2>&1; then
        clang -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only -x c "$h"
    fi
    echo "header: C11 and C++ clean"
    ;;
sequence)
    install_seoib
    # shellcheck disable=SC2046
    $cc -std=c11 -Wall -Wextra -Werror -o "$tmp/rfc-sequence" \
        "$src/tests/capi/rfc-sequence.c" $(pkg-config --cflags --libs seoib)
    # Against the installed library, not the build tree's.
    LD_LIBRARY_PATH=$libdir "$tmp/rfc-sequence" "$vm"
    LD_LIBRARY_PATH=$libdir ldd "$tmp/rfc-sequence" | grep -q "$libdir/libseoib.so" ||
        { echo "FAIL: rfc-sequence did not load the installed libseoib"; exit 1; }
    ;;
consumer)
    install_seoib
    need meson ninja
    meson setup "$tmp/consumer" "$src/tests/capi/meson-consumer" >"$tmp/setup.log" 2>&1 ||
        { cat "$tmp/setup.log"; exit 1; }
    ninja -C "$tmp/consumer" >"$tmp/ninja.log" 2>&1 || { cat "$tmp/ninja.log"; exit 1; }
    LD_LIBRARY_PATH=$libdir "$tmp/consumer/consumer"
    ;;
errors)
    install_seoib
    # The sanitizers' runtimes come with gcc (libasan, libubsan).
    printf 'int main(void){return 0;}\n' >"$tmp/probe.c"
    if ! $cc -fsanitize=address,undefined -o "$tmp/probe" "$tmp/probe.c" 2>/dev/null; then
        echo "SKIP: $cc cannot link -fsanitize=address,undefined"
        exit 77
    fi
    san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
    # shellcheck disable=SC2046,SC2086
    $cc -std=c11 -g -Wall -Wextra -Werror $san -o "$tmp/errors-static" \
        "$src/tests/capi/errors.c" $(pkg-config --cflags seoib) \
        "$libdir/libseoib.a" $(pkg-config --static --libs-only-l seoib | sed 's/-lseoib//')
    # shellcheck disable=SC2046,SC2086
    $cc -std=c11 -g -Wall -Wextra -Werror $san -o "$tmp/errors-shared" \
        "$src/tests/capi/errors.c" $(pkg-config --cflags --libs seoib)
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    "$tmp/errors-static"
    LD_LIBRARY_PATH=$libdir "$tmp/errors-shared"
    ;;
exports)
    need nm readelf
    # The library the development link names (a stale one of an older
    # version may lie next to it in a reused build directory).
    so=$(readlink -f "$build/capi/libseoib.so")
    bad=$(nm -D --defined-only "$so" | awk '$2 != "A" { print $3 }' | grep -v '^seoib_' || true)
    if [ -n "$bad" ]; then
        echo "FAIL: libseoib exports more than seoib_*:"
        echo "$bad" | head -n 20
        exit 1
    fi
    n=$(nm -D --defined-only "$so" | awk '$2 != "A"' | wc -l)
    [ "$n" -gt 0 ] || { echo "FAIL: libseoib exports nothing"; exit 1; }
    readelf -d "$so" | grep -q 'SONAME.*libseoib\.so\.[0-9]' ||
        { echo "FAIL: no soname"; exit 1; }
    echo "exports: $n seoib_* symbols, nothing else"
    ;;
*)
    echo "unknown mode $mode"; exit 2 ;;
esac
