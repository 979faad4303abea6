#!/bin/sh
# libseoib's ABI against the baseline in tests/abi/libseoib.abi.
#
#   abi-check.sh check  BUILD_ROOT SOURCE_ROOT   (meson test 'abi')
#   abi-check.sh update BUILD_ROOT SOURCE_ROOT   (writes a new baseline)
#
# The check fails on any change but additions, and when the soname differs from the baseline's: an incompatible
# change must raise seoib_soversion in capi/meson.build and update the
# baseline in the same commit.  Compatible changes (additions) pass and are
# shown; update the baseline with them.
#
# It reads build/capi/libseoib-abi.so, the C API's own object code linked
# with libseoib's version script and soname (capi/meson.build says why),
# and first checks that it exports exactly what libseoib.so exports.
set -eu

mode=$1 build=$2 src=$3
for t in abidw abidiff nm; do
    if ! command -v "$t" >/dev/null 2>&1; then
        echo "SKIP: $t not found (Debian's abigail-tools; scripts/install-deps.sh installs it)"
        exit 77
    fi
done

baseline="$src/tests/abi/libseoib.abi"
probe="$build/capi/libseoib-abi.so"
real=$(readlink -f "$build/capi/libseoib.so")   # the current one, not a stale older version
headers="$src/include/seoib"
[ -f "$probe" ] && [ -n "$real" ] || { echo "FAIL: build capi/libseoib-abi.so and libseoib first"; exit 1; }

syms() { nm -D --defined-only "$1" | awk '{ print $2, $3 }' | sort; }
if [ "$(syms "$probe")" != "$(syms "$real")" ]; then
    echo "FAIL: libseoib-abi.so does not export what libseoib.so exports"
    exit 1
fi

if [ "$mode" = update ]; then
    abidw --headers-dir "$headers" --drop-private-types --drop-undefined-syms \
        --no-show-locs --type-id-style hash --no-corpus-path \
        --out-file "$baseline" "$probe"
    echo "wrote $baseline"
    exit 0
fi

want=$(sed -n "s/.*soname='\([^']*\)'.*/\1/p" "$baseline" | head -n 1)
have=$(readelf -d "$real" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ "$want" != "$have" ]; then
    echo "FAIL: soname $have, baseline $want: update tests/abi/libseoib.abi"
    echo "      (tests/abi/abi-check.sh update BUILD SRC) in the same change"
    exit 1
fi

set +e
abidiff --no-show-locs \
    "$baseline" "$probe" >"${TMPDIR:-/tmp}/seoib-abidiff.$$" 2>&1
rc=$?
set -e
report=$(cat "${TMPDIR:-/tmp}/seoib-abidiff.$$"); rm -f "${TMPDIR:-/tmp}/seoib-abidiff.$$"
# abidiff's exit status is a bit field: 1 error, 2 usage, 4 ABI change,
# 8 incompatible ABI change.
if [ $((rc & 3)) -ne 0 ]; then
    echo "FAIL: abidiff could not compare ($rc):"; echo "$report"; exit 1
fi
# abidiff sets 8 only for what is certainly incompatible (a symbol
# removed); a changed type behind a pointer is 4, "an ABI change".  Only
# additions are compatible here: anything removed or changed fails.
only_added=no
if echo "$report" | grep -q 'Functions changes summary: 0 Removed, 0 Changed' &&
   echo "$report" | grep -q 'Variables changes summary: 0 Removed, 0 Changed'; then
    only_added=yes
fi
if [ $((rc & 8)) -ne 0 ] || { [ $((rc & 4)) -ne 0 ] && [ $only_added = no ]; }; then
    echo "FAIL: incompatible ABI change against $want; raise seoib_soversion"
    echo "      in capi/meson.build and update the baseline together:"
    echo "$report"
    exit 1
fi
if [ $((rc & 4)) -ne 0 ]; then
    echo "compatible ABI change (additions; update the baseline):"; echo "$report"
else
    echo "ABI of $have unchanged against tests/abi/libseoib.abi"
fi
