#!/usr/bin/env bash
# `make release-dry-run`: everything a release does, on this machine, without publishing.
#   1. the binaries and SHA256SUMS (make release-build), checked, sized, and the linux/amd64 one run;
#   2. the image (scripts/release-image.sh: image/base.lock's Debian packages and dist's binaries),
#      for linux/amd64 and linux/arm64, as an OCI layout tarball; each platform's binary is taken out
#      of its image and compared with dist's; then make release-pin in a second checkout and
#      release-check-pins against this one: the helpers and the image's digest reproduce;
#   3. the catalog's rules for templates/, and gitlab-ci-local on .gitlab-ci.yml (a branch and a tag
#      pipeline), every component's example, and the components' jobs against the test issuer and
#      MinIO (the e2e tests, through scripts/peers.sh).
# Tools: crane and registry (pinned, go install, under $KEYLESS_TOOLS/bin, by release-image.sh), and
# the test peers (scripts/install-peers.sh). All idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

say() { printf 'release-dry-run: %s\n' "$*" >&2; }
die() { printf 'release-dry-run: error: %s\n' "$*" >&2; exit 1; }

if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
  say "warning: the tree has uncommitted changes; the version will say -dirty"
fi
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
export VERSION

# --- tools -----------------------------------------------------------------------------------
scripts/install-peers.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyless-release.XXXXXX")
cleanup() { rm -rf "$tmp"; }
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
# scripts/release-image.sh: the pinned Debian base (image/base.lock) and dist's linux binaries, for
# linux/amd64 and linux/arm64, as an OCI layout tarball; each platform's binary is then taken out
# of its image and compared with dist's, and the amd64 one run.
say "the image (scripts/release-image.sh)"
image_digest=$(scripts/release-image.sh dist dist/keyless-image.tar)
oci=$tmp/oci
mkdir -p "$oci"
tar -C "$oci" -xf dist/keyless-image.tar
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
for arch in amd64 arm64; do
  cmp -s "$tmp/img-$arch/ko-app/keyless" "dist/keyless-linux-$arch" || die "the $arch image's /ko-app/keyless is not dist/keyless-linux-$arch"
done
say "the image $image_digest holds dist/keyless-linux-amd64 and -arm64, bit for bit"
(cd dist && sha256sum keyless-image.tar >>SHA256SUMS)

# --- 2b. pins reproduce -------------------------------------------------------------------------
# What a release does before its tag (make release-pin) and after it (release-check-pins in the
# container-image and sign jobs), in a second checkout of HEAD at another path: the templates
# there pin the helpers and the image built in that checkout, and the check passes only if this
# checkout's build reproduces them bit for bit, image digest included.
say "release-pin in a second checkout, release-check-pins against this one's dist/"
pin_wt="$(mktemp -d)/keyless"
git worktree add --quiet --detach "$pin_wt" HEAD
(cd "$pin_wt" && VERSION="$VERSION" scripts/release-pin.sh) || { git worktree remove --force "$pin_wt"; die "release-pin failed"; }
(cd "$pin_wt" && scripts/release-check-pins.sh "$OLDPWD/dist" "$OLDPWD/dist/keyless-image.tar") ||
  { git worktree remove --force "$pin_wt"; die "the helpers or the image do not reproduce across checkouts"; }
# The pinned templates still follow the catalog's rules and name the image by its digest.
(cd "$pin_wt" && go test -count=1 -run 'TestCatalogRules|TestComponentsPinTheirVersion' ./cmd/keyless >/dev/null) ||
  { git worktree remove --force "$pin_wt"; die "the pinned templates break the catalog's rules (cd $pin_wt && go test -run TestCatalogRules ./cmd/keyless)"; }
[ "$(grep -c "component.version ]]@$image_digest\$" "$pin_wt"/templates/*.yml | grep -c ':1$')" = "$(ls "$pin_wt"/templates/*.yml | wc -l)" ] ||
  { git worktree remove --force "$pin_wt"; die "not every pinned template names the image by $image_digest"; }
git worktree remove --force "$pin_wt"

# --- 3. pipeline, templates, components ------------------------------------------------------------
say "catalog rules, .gitlab-ci.yml and the components with gitlab-ci-local"
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
echo "  image: registry.gitlab.com/keyless-ci/keyless:$VERSION@$image_digest, linux/amd64 and linux/arm64, /ko-app/keyless (dist/keyless-image.tar: its OCI layout)"
while read -r arch size; do printf '  image linux/%-17s %10d bytes (compressed layers)\n' "$arch" "$size"; done <"$tmp/image-sizes"
echo "  checksums: dist/SHA256SUMS ($(wc -l <dist/SHA256SUMS) files, verified)"
