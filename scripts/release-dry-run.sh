#!/usr/bin/env bash
# `make release-dry-run`: everything a release does, on this machine, without publishing.
#   1. the binaries and SHA256SUMS (make release-build), checked, sized, and the linux/amd64 one run;
#   2. the image with ko, to a tarball: no Docker daemon and no registry access here, so ko's base
#      is built locally (Debian's static busybox, CA certificates) and served by go-containerregistry's
#      registry on loopback; the binary is then run out of the image's layer;
#   3. the catalog's rules for templates/, and gitlab-ci-local on .gitlab-ci.yml (a branch and a tag
#      pipeline), every component's example, and the components' jobs against the test issuer and
#      MinIO (the e2e tests, through scripts/peers.sh).
# Tools: ko, crane and registry (pinned, go install, under $KEYLESS_TOOLS/bin), busybox-static (apt),
# and the test peers (scripts/install-peers.sh). All idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

KO_VERSION=v0.19.1
GGCR_VERSION=v0.22.1
TOOLS=${KEYLESS_TOOLS:-$HOME/.cache/keyless-tools}
say() { printf 'release-dry-run: %s\n' "$*" >&2; }
die() { printf 'release-dry-run: error: %s\n' "$*" >&2; exit 1; }

if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
  say "warning: the tree has uncommitted changes; the version will say -dirty"
fi
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
export VERSION

# --- tools -----------------------------------------------------------------------------------
scripts/install-peers.sh
mkdir -p "$TOOLS/bin"
install_go() { # name module version
  if [ "$(cat "$TOOLS/bin/.$1-version" 2>/dev/null)" != "$3" ] || [ ! -x "$TOOLS/bin/$1" ]; then
    say "go install $2@$3"
    GOBIN="$TOOLS/bin" GOFLAGS=-mod=mod go install "$2@$3"
    echo "$3" >"$TOOLS/bin/.$1-version"
  fi
}
install_go ko github.com/google/ko "$KO_VERSION"
install_go crane github.com/google/go-containerregistry/cmd/crane "$GGCR_VERSION"
install_go registry github.com/google/go-containerregistry/cmd/registry "$GGCR_VERSION"
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed"; then
  say "apt-get install busybox-static (the image's shell, built offline)"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends busybox-static >/dev/null
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyless-release.XXXXXX")
reg_pid=
cleanup() {
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- 1. binaries -------------------------------------------------------------------------------
scripts/release-build.sh
(cd dist && sha256sum -c --quiet SHA256SUMS) || die "dist/SHA256SUMS does not match the binaries"
for f in dist/keyless-*; do
  file -b "$f" | grep -q 'statically linked\|Mach-O\|PE32+' || die "$f is not a static binary: $(file -b "$f")"
done
[ "$(./dist/keyless-linux-amd64 version)" = "keyless $VERSION" ] || die "dist/keyless-linux-amd64 does not say keyless $VERSION"
[ "$(./dist/keyless-helper-linux-amd64 version)" = "keyless $VERSION" ] || die "the helper does not say keyless $VERSION"
./dist/keyless-linux-amd64 policy aws --project acme/web --ref main --issuer https://gitlab.com >/dev/null 2>&1 ||
  die "dist/keyless-linux-amd64 policy aws failed"

# --- 2. image ----------------------------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$TOOLS/bin/registry" -port "$port" >"$tmp/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
mkdir -p "$tmp/base/bin" "$tmp/base/etc/ssl/certs" "$tmp/base/tmp"
cp /bin/busybox "$tmp/base/bin/busybox"
for a in sh ls cp mkdir cat chmod rm mv env sha256sum wget id test tr sed grep; do ln -s busybox "$tmp/base/bin/$a"; done
cp /etc/ssl/certs/ca-certificates.crt "$tmp/base/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/home/nonroot:/bin/sh\n' >"$tmp/base/etc/passwd"
chmod 1777 "$tmp/base/tmp"
tar -C "$tmp/base" --owner=0 --group=0 --numeric-owner -cf "$tmp/base.tar" .
base="127.0.0.1:$port/keyless-base:busybox"
"$TOOLS/bin/crane" append --platform linux/amd64 -f "$tmp/base.tar" -t "$base" >/dev/null 2>"$tmp/crane.log"
"$TOOLS/bin/crane" mutate --env PATH=/bin "$base" >/dev/null 2>>"$tmp/crane.log"
say "ko build (linux/amd64 on a local busybox base; CI builds linux/amd64 and linux/arm64 on .ko.yaml's)"
KO_DOCKER_REPO=registry.gitlab.com/keyless-ci/keyless KO_DEFAULTBASEIMAGE="$base" \
  "$TOOLS/bin/ko" build --bare --platform=linux/amd64 --push=false --tarball=dist/keyless-image.tar \
  --tags="$VERSION" ./cmd/keyless >"$tmp/ko.out" 2>"$tmp/ko.err" || { cat "$tmp/ko.err" >&2; die "ko build failed"; }
# The binary, out of the image's last layer, at its fixed path.
mkdir -p "$tmp/image" && tar -C "$tmp/image" -xf dist/keyless-image.tar
layer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["Layers"][-1])' "$tmp/image/manifest.json")
tar -C "$tmp/image" -xf "$tmp/image/$layer" --wildcards '*ko-app/keyless' 2>/dev/null
[ "$("$tmp/image/ko-app/keyless" version)" = "keyless $VERSION" ] || die "the image's /ko-app/keyless does not say keyless $VERSION"
(cd dist && sha256sum keyless-image.tar >>SHA256SUMS)

# --- 3. pipeline, templates, components ------------------------------------------------------------
say "catalog rules, .gitlab-ci.yml and the components with gitlab-ci-local"
# shellcheck source=scripts/peers.sh
. scripts/peers.sh
peers_start
KEYLESS_E2E=1 go test -count=1 -run 'TestCatalogRules|TestComponent|TestE2EGitLabCI' ./cmd/keyless

# --- report --------------------------------------------------------------------------------------
echo
echo "keyless $VERSION, release dry run:"
(cd dist && for f in keyless-*; do printf '  %-30s %10d bytes\n' "$f" "$(wc -c <"$f")"; done)
echo "  image: registry.gitlab.com/keyless-ci/keyless:$VERSION (linux/amd64 here), /ko-app/keyless"
echo "  checksums: dist/SHA256SUMS ($(wc -l <dist/SHA256SUMS) files, verified)"
