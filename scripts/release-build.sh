#!/usr/bin/env bash
# `make release-build`: the release's binaries and their checksums in dist/.
#
#   keyless-<os>-<arch>[.exe]       the whole tool (lint, report, policy, explain, doctor, helper)
#   keyless-helper-linux-<arch>     the credential helper alone (make build-slim), what the
#                                   components' download install mode fetches into every job
#   SHA256SUMS                      sha256sum's format, what `sha256sum -c` reads
#
# Built by scripts/build-keyless.sh: static, -trimpath, stripped, stamped with VERSION (default:
# git describe; a release tag is 1.2.3, without v). The files are built in dist.tmp and moved into place only
# when all of them built, so dist/ never holds half a release.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
OUT=${OUT:-dist}
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64}
HELPER_PLATFORMS=${HELPER_PLATFORMS:-linux/amd64 linux/arm64}
export VERSION

case $VERSION in
  v[0-9]*) echo "release-build: VERSION=$VERSION: release tags are 1.2.3, without v (the CI/CD catalog's rule)" >&2; exit 2 ;;
esac

tmp="$OUT.tmp"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

build() { # os arch tags name
  GOOS=$1 GOARCH=$2 scripts/build-keyless.sh "$tmp/$4" "$3"
  printf 'release-build: %-32s %9d bytes\n' "$4" "$(wc -c <"$tmp/$4")" >&2
}
for p in $PLATFORMS; do
  os=${p%/*} arch=${p#*/} ext=
  [ "$os" = windows ] && ext=.exe
  build "$os" "$arch" "" "keyless-$os-$arch$ext"
done
for p in $HELPER_PLATFORMS; do
  build "${p%/*}" "${p#*/}" keyless_slim "keyless-helper-${p%/*}-${p#*/}"
done
(cd "$tmp" && sha256sum keyless-* >SHA256SUMS)

rm -rf "$OUT"
mv "$tmp" "$OUT"
trap - EXIT
echo "release-build: $VERSION in $OUT/ ($(ls "$OUT" | wc -l) files)" >&2
