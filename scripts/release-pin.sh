#!/usr/bin/env bash
# `make release-pin VERSION=1.2.3`: before tagging release 1.2.3, build the helpers and the image
# exactly as the release pipeline will (scripts/release-build.sh: static, -trimpath, stamped 1.2.3;
# scripts/release-image.sh) and write, into every template,
#   - the sha256 of the helpers and of the linux binaries the image holds, with the Go version
#     that built them:
#       KEYLESS_HELPER_SHA256: "go1.26.8 linux-amd64=<sha256> linux-arm64=<sha256>
#                               keyless-linux-amd64=<sha256> keyless-linux-arm64=<sha256>"
#   - the image's index digest, on every image line of the release image:
#       name: $[[ inputs.image ]]:$[[ component.version ]]@sha256:<digest>
#
# A released component then checks the helper it downloads (install: download) and the binary it
# copies out of the image (install: artifact) against digests in the component itself, not only
# against a SHA256SUMS fetched from the same place as the binary, and its jobs pull the image by
# digest, whatever the tag points at. Commit the templates and tag that commit: the release
# pipeline rebuilds everything, and scripts/release-check-pins.sh stops the release (before the
# image is pushed) unless the build reproduces these digests.
# `make release-pin VERSION=` (empty) clears the pins, for main after a release.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=${VERSION-}
templates=$(grep -l '^    KEYLESS_HELPER_SHA256:' templates/*.yml || true)
[ -n "$templates" ] || { echo "release-pin: no template has a KEYLESS_HELPER_SHA256 variable" >&2; exit 1; }

if [ -z "$VERSION" ]; then
  pin="" image=""
else
  case $VERSION in
    v*) echo "release-pin: VERSION=$VERSION: release tags are 1.2.3, without v (the CI/CD catalog's rule)" >&2; exit 2 ;;
    [0-9]*.[0-9]*.[0-9]*) ;;
    *) echo "release-pin: warning: VERSION=$VERSION is no release version (1.2.3); pinning it anyway, for a test" >&2 ;;
  esac
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  OUT="$out/dist" VERSION="$VERSION" PLATFORMS="linux/amd64 linux/arm64" HELPER_PLATFORMS="linux/amd64 linux/arm64" scripts/release-build.sh
  gov=$(go env GOVERSION)
  scripts/release-image.sh "$out/dist" "$out/image.tar" >"$out/image.digest"
  image=$(cat "$out/image.digest")
  pin="$gov"
  for arch in amd64 arm64; do
    pin="$pin linux-$arch=$(sha256sum "$out/dist/keyless-helper-linux-$arch" | cut -d' ' -f1)"
  done
  for arch in amd64 arm64; do
    pin="$pin keyless-linux-$arch=$(sha256sum "$out/dist/keyless-linux-$arch" | cut -d' ' -f1)"
  done
fi

for t in templates/*.yml; do
  tmp="$t.pin.tmp"
  sed -e "s|^    KEYLESS_HELPER_SHA256:.*\$|    KEYLESS_HELPER_SHA256: \"$pin\"|" \
    -e "s|^\( *name: \\\$\[\[ inputs.image \]\]:\\\$\[\[ component.version \]\]\)\(@sha256:[0-9a-f]*\)\{0,1\}\$|\1${image:+@$image}|" \
    "$t" >"$tmp" && mv "$tmp" "$t"
done
if [ -n "$pin" ]; then
  echo "release-pin: $VERSION: $pin image@$image" >&2
  echo "release-pin: now commit templates/ and tag that commit $VERSION" >&2
else
  echo "release-pin: pins cleared in $(echo "$templates" | wc -w) templates" >&2
fi
