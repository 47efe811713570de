#!/bin/bash
# Builds studio_<version>_<arch>.deb from the work tree and checks it with lintian.
#
#   packaging/build-deb.sh [OUTDIR]      (default OUTDIR: out/ in the repository)
#
# The source tree (git-tracked files plus untracked, non-ignored ones) is staged
# at out/build/studio-<upstream version>/ with packaging/debian as its debian/,
# and built there with dpkg-buildpackage. SwiftPM's scratch directory is
# $REPO/.build-release, outside the staged tree, and unchanged files keep their
# staged copy, so a second build only recompiles what changed.
set -euo pipefail

die() { echo "build-deb.sh: $*" >&2; exit 1; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUTDIR=${1:-$REPO/out}
mkdir -p "$OUTDIR" || die "cannot create $OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)

for tool in git dpkg-buildpackage dpkg-parsechangelog lintian; do
    command -v "$tool" >/dev/null || die "'$tool' is missing (apt-get install git dpkg-dev debhelper lintian)"
done
command -v swift >/dev/null || die "'swift' is not on PATH (the Swift toolchain, e.g. /opt/swift/usr/bin)"

VERSION=$(dpkg-parsechangelog -l "$REPO/packaging/debian/changelog" -SVersion)
UPSTREAM=${VERSION%-*}
ARCH=$(dpkg --print-architecture)
BUILD=$REPO/out/build
STAGE=$BUILD/studio-$UPSTREAM
DEB=studio_${VERSION}_${ARCH}.deb
export STUDIO_SWIFT_SCRATCH=$REPO/.build-release

# --- Stage the source tree -------------------------------------------------
mkdir -p "$STAGE"
want=$(mktemp) have=$(mktemp)
trap 'rm -f "$want" "$have"' EXIT
git -C "$REPO" ls-files -co --exclude-standard \
    | grep -v -e '^out/' -e '^\.build' -e '^packaging/debian/' \
    | while IFS= read -r f; do [ -e "$REPO/$f" ] || [ -L "$REPO/$f" ] && echo "$f"; done \
    | sort -u >"$want" || true
[ -s "$want" ] || die "git lists no source files in $REPO"
# Package.resolved is git-ignored (pins differ per machine) but, if present,
# makes the package build with the versions the work tree was tested with.
[ -f "$REPO/Package.resolved" ] && echo Package.resolved >>"$want" && sort -u -o "$want" "$want"

# Copy new and changed files only, keeping times: SwiftPM then sees unchanged
# files as unchanged and rebuilds incrementally.
while IFS= read -r f; do
    if [ ! -e "$STAGE/$f" ] || ! cmp -s "$REPO/$f" "$STAGE/$f"; then
        mkdir -p "$STAGE/$(dirname "$f")"
        cp -P -p --remove-destination "$REPO/$f" "$STAGE/$f"
    fi
done <"$want"
# Remove what is no longer in the work tree (debian/ is replaced below;
# Package.resolved is SwiftPM's own when the work tree has none).
(cd "$STAGE" && find . \( -path ./debian -o -path './.build*' \) -prune -o \( -type f -o -type l \) -print \
    | sed 's|^\./||' | grep -v -x 'Package.resolved' | sort) >"$have" || true
comm -23 "$have" "$want" | while IFS= read -r f; do rm -f "$STAGE/$f"; done
find "$STAGE" -mindepth 1 -type d -empty -not -path "$STAGE/debian*" -delete

rm -rf "$STAGE/debian"
cp -a "$REPO/packaging/debian" "$STAGE/debian"

# --- Build -----------------------------------------------------------------
LOG=$BUILD/build.log
echo "build-deb.sh: building $DEB in $STAGE (log: $LOG)"
rm -f "$BUILD/$DEB"
if ! (cd "$STAGE" && dpkg-buildpackage -us -uc -b) >"$LOG" 2>&1; then
    tail -n 40 "$LOG" >&2
    die "dpkg-buildpackage failed; the whole log is $LOG"
fi
[ -f "$BUILD/$DEB" ] || die "dpkg-buildpackage made no $BUILD/$DEB (see $LOG)"
[ "$OUTDIR" = "$BUILD" ] || cp "$BUILD/$DEB" "$OUTDIR/$DEB"

# --- Check -----------------------------------------------------------------
echo "build-deb.sh: lintian $DEB"
# Info tags are shown (-I) but only errors and warnings fail the build.
lintian -I --fail-on error,warning "$OUTDIR/$DEB" || die "lintian found errors or warnings in $OUTDIR/$DEB"

echo "$OUTDIR/$DEB"
