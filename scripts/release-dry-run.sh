#!/usr/bin/env bash
# `make release-dry-run`: everything a release does, on this machine, without publishing.
#   1. the binaries and SHA256SUMS (make release-build), checked, sized, and the linux/amd64 one run;
#   2. the image with ko, for linux/amd64 and linux/arm64, as an OCI layout tarball: no Docker daemon
#      and no registry access here, so ko's base is built locally (Debian's static busybox of each
#      architecture, CA certificates) and served by go-containerregistry's registry on loopback; each
#      platform's binary is then taken out of its image, and the amd64 one run;
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

# --- 1b. pinned, reproducible helpers ----------------------------------------------------------
# What a release does before its tag (make release-pin) and after it (release-check-pins in the
# sign job), in a second checkout of HEAD at another path: the templates there pin helpers built
# in that checkout, and the check passes only if this checkout's build reproduces them bit for bit.
say "release-pin in a second checkout, release-check-pins against this one's dist/"
pin_wt="$(mktemp -d)/keyless"
git worktree add --quiet --detach "$pin_wt" HEAD
(cd "$pin_wt" && VERSION="$VERSION" scripts/release-pin.sh) || { git worktree remove --force "$pin_wt"; die "release-pin failed"; }
(cd "$pin_wt" && scripts/release-check-pins.sh "$OLDPWD/dist") || { git worktree remove --force "$pin_wt"; die "the helpers do not reproduce across checkouts"; }
git worktree remove --force "$pin_wt"

# --- 2. image ----------------------------------------------------------------------------------
# ko's base, built here for both platforms: Debian's static busybox of each architecture (apt-get
# download; arm64's package lists need `dpkg --add-architecture arm64` once), CA certificates and
# a passwd file, as an index on an in-memory registry on loopback.
if ! dpkg --print-foreign-architectures | grep -qx arm64 && [ "$(dpkg --print-architecture)" != arm64 ]; then
  say "dpkg --add-architecture arm64 (package lists only: the arm64 busybox of the image's base)"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$TOOLS/bin/registry" -port "$port" >"$tmp/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
base="127.0.0.1:$port/keyless-base"
for arch in amd64 arm64; do
  root="$tmp/base-$arch"
  mkdir -p "$root/bin" "$root/etc/ssl/certs" "$root/tmp" "$tmp/deb-$arch"
  (cd "$tmp/deb-$arch" && apt-get download -qq "busybox-static:$arch" >/dev/null 2>&1) || die "apt-get download busybox-static:$arch failed"
  dpkg-deb -x "$tmp/deb-$arch"/busybox-static_*.deb "$tmp/deb-$arch/x"
  cp "$tmp/deb-$arch/x/bin/busybox" "$root/bin/busybox"
  for a in sh ls cp mkdir cat chmod rm mv env sha256sum wget id test tr sed grep uname; do ln -s busybox "$root/bin/$a"; done
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  printf 'root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/home/nonroot:/bin/sh\n' >"$root/etc/passwd"
  chmod 1777 "$root/tmp"
  tar -C "$root" --owner=0 --group=0 --numeric-owner -cf "$tmp/base-$arch.tar" .
  "$TOOLS/bin/crane" append --platform "linux/$arch" -f "$tmp/base-$arch.tar" -t "$base:$arch" >/dev/null 2>>"$tmp/crane.log"
  "$TOOLS/bin/crane" mutate --set-platform "linux/$arch" --env PATH=/bin -t "$base:$arch" "$base:$arch" >/dev/null 2>>"$tmp/crane.log"
done
"$TOOLS/bin/crane" index append -t "$base:busybox" -m "$base:amd64" -m "$base:arm64" >/dev/null 2>>"$tmp/crane.log"
say "ko build for linux/amd64 and linux/arm64 (CI builds on .ko.yaml's base and pushes on a tag)"
# ko takes the layout path for a repository name: lower case only, so not under mktemp's.
oci="$PWD/dist/.oci-layout"
rm -rf "$oci"
KO_DOCKER_REPO=registry.gitlab.com/keyless-ci/keyless KO_DEFAULTBASEIMAGE="$base:busybox" \
  "$TOOLS/bin/ko" build --bare --platform=linux/amd64,linux/arm64 --push=false --oci-layout-path="$oci" \
  --tags="$VERSION" ./cmd/keyless >"$tmp/ko.out" 2>"$tmp/ko.err" || { cat "$tmp/ko.err" >&2; die "ko build failed"; }
tar -C "$oci" --owner=0 --group=0 --numeric-owner -cf dist/keyless-image.tar .
# Each platform's binary, out of its image's last layer, at the fixed path /ko-app/keyless.
python3 - "$oci" >"$tmp/layers" <<'PY'
import json, sys, os
root = sys.argv[1]
def blob(d): return os.path.join(root, "blobs", *d.split(":"))
index = json.load(open(os.path.join(root, "index.json")))
def walk(desc):
    m = json.load(open(blob(desc["digest"])))
    if "manifests" in m:
        for d in m["manifests"]:
            walk(d)
    else:
        p = desc.get("platform", {})
        size = m["config"]["size"] + sum(l["size"] for l in m["layers"])
        print(p.get("architecture", "?"), blob(m["layers"][-1]["digest"]), size)
for d in index["manifests"]:
    walk(d)
PY
archs=""
while read -r arch layer size; do
  echo "$arch $size" >>"$tmp/image-sizes"
  mkdir -p "$tmp/img-$arch" && tar -C "$tmp/img-$arch" -xzf "$layer" --wildcards '*ko-app/keyless' 2>/dev/null ||
    die "the $arch image has no /ko-app/keyless"
  archs="$archs $arch"
done <"$tmp/layers"
[ "$(echo $archs | tr ' ' '\n' | sort | tr '\n' ' ')" = "amd64 arm64 " ] || die "the image's platforms are$archs, want amd64 arm64"
[ "$("$tmp/img-amd64/ko-app/keyless" version)" = "keyless $VERSION" ] || die "the amd64 image's /ko-app/keyless does not say keyless $VERSION"
file -b "$tmp/img-arm64/ko-app/keyless" | grep -q aarch64 || die "the arm64 image's binary is not an arm64 binary"
for arch in amd64 arm64; do
  if cmp -s "$tmp/img-$arch/ko-app/keyless" "dist/keyless-linux-$arch"; then
    say "the $arch image's /ko-app/keyless is dist/keyless-linux-$arch, bit for bit"
  else
    say "note: the $arch image's /ko-app/keyless differs from dist/keyless-linux-$arch"
  fi
done
rm -rf "$oci"
(cd dist && sha256sum keyless-image.tar >>SHA256SUMS)

# --- 3. pipeline, templates, components ------------------------------------------------------------
say "catalog rules, .gitlab-ci.yml and the components with gitlab-ci-local"
kill "$reg_pid" 2>/dev/null
reg_pid=
# In a subshell: peers.sh sets its own EXIT trap (peers_stop), which would replace this script's.
(
  # shellcheck source=scripts/peers.sh
  . scripts/peers.sh
  peers_start
  KEYLESS_E2E=1 go test -count=1 -run 'TestCatalogRules|TestComponent|TestE2EGitLabCI' ./cmd/keyless
)

# --- report --------------------------------------------------------------------------------------
echo
echo "keyless $VERSION, release dry run:"
(cd dist && for f in keyless-*; do printf '  %-30s %10d bytes\n' "$f" "$(wc -c <"$f")"; done)
echo "  image: registry.gitlab.com/keyless-ci/keyless:$VERSION, linux/amd64 and linux/arm64, /ko-app/keyless (dist/keyless-image.tar: its OCI layout)"
while read -r arch size; do printf '  image linux/%-17s %10d bytes (compressed layers)\n' "$arch" "$size"; done <"$tmp/image-sizes"
echo "  checksums: dist/SHA256SUMS ($(wc -l <dist/SHA256SUMS) files, verified)"
