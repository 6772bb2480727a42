#!/usr/bin/env bash
# scripts/release-check-pins.sh DIST: the helpers in DIST are the ones the templates pin.
# Every template's KEYLESS_HELPER_SHA256 (scripts/release-pin.sh writes it before a release is
# tagged) must be the same, name the Go version, and give, for linux-amd64 and linux-arm64, the
# sha256 of DIST/keyless-helper-linux-<arch> and of DIST/keyless-linux-<arch> (the image's
# binary). The release pipeline runs this before it signs and publishes: a release whose
# components would refuse its own binaries never goes out.
set -euo pipefail
cd "$(dirname "$0")/.."
dist=${1:?usage: scripts/release-check-pins.sh DIST}
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
echo "release-check-pins: the helpers in $dist are the ones the templates pin ($pins)" >&2
