#!/usr/bin/env bash
# scripts/release-check-pins.sh DIST [IMAGE]: the helpers in DIST, and the image IMAGE, are the
# ones the templates pin (scripts/release-pin.sh writes the pins before a release is tagged).
# Every template's KEYLESS_HELPER_SHA256 must be the same, name the Go version, and give, for
# linux-amd64 and linux-arm64, the sha256 of DIST/keyless-helper-linux-<arch> and of
# DIST/keyless-linux-<arch> (the image's binary). Every image line of the release image must name
# it by the same digest (name: $[[ inputs.image ]]:$[[ component.version ]]@sha256:...), and
# IMAGE, when given, must be that image: an OCI layout tarball (scripts/release-image.sh) or a
# reference REPO@sha256:... (what the pushed image resolved to). The release pipeline runs this
# before it pushes the image and before it signs and publishes: a release whose components would
# refuse its own binaries, or pull another image, never goes out.
set -euo pipefail
cd "$(dirname "$0")/.."
dist=${1:?usage: scripts/release-check-pins.sh DIST [IMAGE.tar|REPO@sha256:DIGEST]}
image=${2:-}
fail() { echo "release-check-pins: $*" >&2; exit 1; }

pins=$(sed -n 's/^    KEYLESS_HELPER_SHA256: "\(.*\)"$/\1/p' templates/*.yml | sort -u)
[ -n "$pins" ] || fail "the templates pin no helper (KEYLESS_HELPER_SHA256 is empty): run make release-pin VERSION=X.Y.Z, commit, and tag that commit"
[ "$(printf '%s\n' "$pins" | wc -l)" -eq 1 ] || fail "the templates pin different helpers: run make release-pin VERSION=X.Y.Z again"
gov=${pins%% *}
case $gov in go1.*) ;; *) fail "the pin \"$pins\" names no Go version: run make release-pin VERSION=X.Y.Z" ;; esac
entry() { printf '%s\n' "$pins" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
for name in linux-amd64 linux-arm64 keyless-linux-amd64 keyless-linux-arm64; do
  want=$(entry "$name")
  [ -n "$want" ] || fail "the pin names no $name: run make release-pin VERSION=X.Y.Z"
  file=$dist/$name
  case $name in linux-*) file=$dist/keyless-helper-$name ;; esac
  [ -f "$file" ] || fail "$file is missing: run make release-build first"
  got=$(sha256sum "$file" | cut -d' ' -f1)
  if [ "$got" != "$want" ]; then
    fail "$(basename "$file") is $got, the templates pin $want: this build does not reproduce the pinned one (pinned with $gov, built with $(go env GOVERSION)); build with $gov, or pin again"
  fi
done

# The image: by digest in every template that runs it.
lines=$(sed -n 's/^ *name: \$\[\[ inputs\.image \]\]:\$\[\[ component\.version \]\]\(.*\)$/x\1/p' templates/*.yml | sort -u)
if [ -n "$lines" ]; then
  [ "$(printf '%s\n' "$lines" | wc -l)" -eq 1 ] || fail "the templates name the release image differently ($(echo $lines | tr -d x)): run make release-pin VERSION=X.Y.Z again"
  pinned=${lines#x@}
  case $pinned in
    sha256:????????????????????????????????????????????????????????????????) ;;
    *) fail "the templates name the release image by tag, not by digest: run make release-pin VERSION=X.Y.Z" ;;
  esac
  case $image in
    "") echo "release-check-pins: the templates pin the image $pinned (no image given to check)" >&2 ;;
    *.tar)
      [ -f "$image" ] || fail "$image is missing: run scripts/release-image.sh first"
      got=$(tar -xOf "$image" ./index.json 2>/dev/null | grep -o '"sha256:[0-9a-f]\{64\}"' | head -1 | tr -d '"')
      [ -n "$got" ] || fail "$image is no OCI layout (no index.json naming a digest)"
      [ "$got" = "$pinned" ] || fail "the image $image is $got, the templates pin $pinned: this build does not reproduce the pinned image (pinned with $gov, built with $(go env GOVERSION)); build with $gov and the same image/base.lock, or pin again" ;;
    *@sha256:*)
      [ "${image##*@}" = "$pinned" ] || fail "the image $image is not the one the templates pin ($pinned)" ;;
    *) fail "IMAGE $image: give an OCI layout tarball (.tar) or REPO@sha256:DIGEST" ;;
  esac
  pins="$pins image@$pinned"
fi
echo "release-check-pins: the release is what the templates pin ($pins)" >&2
