#!/bin/sh
# Builds the QEMU fork: Debian 12's QEMU 7.2 source package with
# contrib/qemu/patches applied, linked with libseoib through pkg-config.
#
#   build-qemu-fork.sh SEOIB_BUILD_DIR WORK_DIR
#
# 1. enables Debian's source index if apt has none (root only), fetches
#    the source package with `apt-get source qemu` (kept in WORK_DIR/src);
# 2. unpacks it afresh and applies the patches in `series` order;
# 3. installs seoib from SEOIB_BUILD_DIR (`meson install --destdir`) and
#    points pkg-config at the installed seoib.pc;
# 4. configures the smallest QEMU that runs a KVM guest (x86_64-softmmu,
#    no TCG, no default features) with --enable-seoib and Debian's firmware
#    path (the dfsg source has no firmware: SeaBIOS and the option ROMs
#    come from Debian's seabios and qemu-system-data), and builds
#    qemu-system-x86_64.
# The last line of output is the fork binary's path.  Exit status 77 means
# it cannot be built here (no source package reachable, not root to enable
# the source index), with the reason on stderr; 1 is a real failure.
set -eu

seoib_build=$(cd "$1" && pwd)
mkdir -p "$2"
work=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
log="$work/build-qemu-fork.log"
: >"$log"

skip() { echo "SKIP: $*" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; [ -s "$log" ] && tail -n 30 "$log" >&2; exit 1; }
step() { echo "qemu-fork: $*"; }

for t in apt-get dpkg-source patch meson ninja pkg-config cc; do
    command -v "$t" >/dev/null 2>&1 || skip "$t not found (scripts/install-deps.sh installs it)"
done
for h in /usr/include/libfdt.h /usr/include/pixman-1/pixman.h; do
    [ -f "$h" ] || skip "$h missing (libfdt-dev, libpixman-1-dev: scripts/install-deps.sh)"
done

# -- 1. the source package ---------------------------------------------------
has_source_index() { [ -n "$(apt-cache showsrc qemu 2>/dev/null | head -n 1)" ]; }
if ! has_source_index; then
    [ "$(id -u)" -eq 0 ] || skip "apt has no source index and enabling one needs root"
    step "enabling Debian's source index (/etc/apt/sources.list.d/seoib-deb-src.sources)"
    # The deb entries of the machine's Debian sources, as deb-src.
    for f in /etc/apt/sources.list.d/*.sources; do
        grep -q 'deb.debian.org' "$f" 2>/dev/null || continue
        sed 's/^Types: deb$/Types: deb-src/' "$f"
        echo
    done >/etc/apt/sources.list.d/seoib-deb-src.sources
    apt-get update -qq >>"$log" 2>&1 || skip "apt-get update failed: $(tail -n 1 "$log")"
    has_source_index || skip "no source package 'qemu' in the enabled source index"
fi
mkdir -p "$work/src"
if ! ls "$work/src"/qemu_7.2*.dsc >/dev/null 2>&1; then
    step "fetching the source package (apt-get source qemu)"
    (cd "$work/src" && apt-get source --download-only qemu) >>"$log" 2>&1 ||
        skip "apt-get source qemu failed: $(tail -n 1 "$log")"
fi
dsc=$(ls "$work/src"/qemu_*.dsc | head -n 1)
case $(basename "$dsc") in
qemu_7.2+dfsg-*) ;;
*) fail "the patches are for Debian 12's QEMU 7.2, not $(basename "$dsc")" ;;
esac

# -- 2. unpack and patch -----------------------------------------------------
tree="$work/qemu-7.2"
rm -rf "$tree"
step "unpacking $(basename "$dsc") (Debian's own patches applied)"
dpkg-source --no-check -x "$dsc" "$tree" >>"$log" 2>&1 || fail "dpkg-source -x failed"
while read -r p; do
    step "applying $p"
    patch -d "$tree" -p1 --forward --batch -s <"$here/patches/$p" >>"$log" 2>&1 ||
        fail "$p does not apply to $(basename "$dsc")"
done <"$here/patches/series"

# -- 3. libseoib, installed as a user installs it ------------------------------
step "installing seoib from $seoib_build"
root="$work/seoib-root"
rm -rf "$root"
meson install -C "$seoib_build" --no-rebuild --quiet --destdir "$root" >>"$log" 2>&1 ||
    fail "meson install failed"
pc=$(find "$root" -name seoib.pc | head -n 1)
[ -n "$pc" ] || fail "meson install put no seoib.pc"
# The .pc names the configured prefix; the files are under the destdir.
prefix=$(sed -n 's/^prefix=//p' "$pc")
mkdir -p "$work/pkgconfig"
sed "s|^prefix=.*|prefix=$root$prefix|" "$pc" >"$work/pkgconfig/seoib.pc"
libdir=$(PKG_CONFIG_PATH="$work/pkgconfig" pkg-config --variable=libdir seoib)

# -- 4. configure and build ----------------------------------------------------
out="$work/qemu-build"
rm -rf "$out"
mkdir -p "$out"
step "configuring (x86_64-softmmu, KVM only, --enable-seoib)"
(cd "$out" && PKG_CONFIG_PATH="$work/pkgconfig" "$tree/configure" \
    --target-list=x86_64-softmmu --disable-tcg --enable-kvm \
    --without-default-features --disable-docs --enable-seoib \
    --firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu \
    --extra-ldflags="-Wl,-rpath,$libdir") >>"$log" 2>&1 || fail "configure failed"
step "building qemu-system-x86_64"
ninja -C "$out" qemu-system-x86_64 >>"$log" 2>&1 || fail "the build failed"
# Out of the build tree: a binary next to "qemu-bundle" looks for its
# firmware inside the bundle, elsewhere in the configured firmware path.
mkdir -p "$work/bin"
cp "$out/qemu-system-x86_64" "$work/bin/qemu-system-x86_64"
echo "$work/bin/qemu-system-x86_64"
