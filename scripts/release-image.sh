#!/usr/bin/env bash
# scripts/release-image.sh DIST OUT: the release image, linux/amd64 and linux/arm64, as an OCI
# layout tarball at OUT, made of exactly two things, so that its digest follows from the commit:
#   - a base layer from the Debian packages image/base.lock pins by version and sha256: busybox
#     (static; the shell the components' scripts need in this image) with a link per applet, the
#     CA certificates as one bundle, a passwd, a /tmp, and both packages' copyright files;
#   - a layer with DIST/keyless-linux-ARCH at /ko-app/keyless (the path earlier releases used),
#     the very binary make release-pin pins in KEYLESS_HELPER_SHA256.
# Tars are written with fixed names, order, owners, modes and times, and crane (pinned below, built
# by this Go) compresses them and writes manifests with no time and no host name in them: the same
# commit and Go give the same index digest anywhere. make release-pin writes that digest into
# the templates (image: ...:VERSION@sha256:...); the release pipeline builds the image here again
# and pushes it only if the digest is the pinned one (scripts/release-check-pins.sh).
# Prints the index digest (sha256:...) on stdout. Tools: crane and registry under
# $KEYLESS_TOOLS/bin (go install, idempotent); packages from deb.debian.org, or KEYLESS_DEBIAN_URL,
# cached in $KEYLESS_TOOLS/debs and checked against the lock on every use.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
umask 022

GGCR_VERSION=v0.22.1
TOOLS=${KEYLESS_TOOLS:-$HOME/.cache/keyless-tools}
DEBIAN_URL=${KEYLESS_DEBIAN_URL:-http://deb.debian.org/debian}
die() { printf 'release-image: %s\n' "$*" >&2; exit 1; }
dist=${1:-}
out=${2:-}
[ -n "$dist" ] && [ -n "$out" ] || die "usage: scripts/release-image.sh DIST OUT.tar (DIST holds keyless-linux-amd64 and keyless-linux-arm64: make release-build)"
for arch in amd64 arm64; do
  [ -f "$dist/keyless-linux-$arch" ] || die "$dist/keyless-linux-$arch is missing: run make release-build (or scripts/release-build.sh with OUT=$dist) first"
done

mkdir -p "$TOOLS/bin" "$TOOLS/debs"
for tool in crane registry; do
  if [ "$(cat "$TOOLS/bin/.$tool-version" 2>/dev/null)" != "$GGCR_VERSION" ] || [ ! -x "$TOOLS/bin/$tool" ]; then
    printf 'release-image: go install %s %s\n' "$tool" "$GGCR_VERSION" >&2
    GOBIN="$TOOLS/bin" GOFLAGS=-mod=mod go install "github.com/google/go-containerregistry/cmd/$tool@$GGCR_VERSION"
    echo "$GGCR_VERSION" >"$TOOLS/bin/.$tool-version"
  fi
done
crane=$TOOLS/bin/crane

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyless-image.XXXXXX")
reg_pid=
cleanup() {
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# deb PACKAGE ARCH: the package's file, fetched once and checked against the lock every time.
deb() {
  local line version sum path file
  line=$(awk -v p="$1" -v a="$2" '$1 == p && $2 == a' image/base.lock)
  [ -n "$line" ] || die "image/base.lock has no $1 for $2"
  read -r _ _ version sum path <<<"$line"
  file="$TOOLS/debs/$sum.deb"
  if [ ! -f "$file" ] || [ "$(sha256sum "$file" | cut -d' ' -f1)" != "$sum" ]; then
    curl -fsSL --retry 3 -o "$file.part" "$DEBIAN_URL/$path" ||
      die "fetching $1 $version ($2) from $DEBIAN_URL/$path failed; once a version has left the mirrors, set KEYLESS_DEBIAN_URL to a snapshot (https://snapshot.debian.org/archive/debian/<time>) or move image/base.lock to current packages"
    got=$(sha256sum "$file.part" | cut -d' ' -f1)
    [ "$got" = "$sum" ] || { rm -f "$file.part"; die "$DEBIAN_URL/$path is $got, image/base.lock pins $sum: not using it"; }
    mv "$file.part" "$file"
  fi
  printf '%s\n' "$file"
}

# tarball DIR FILE: DIR's tree as a tar whose bytes depend only on its names, contents, modes
# and link targets.
tarball() {
  tar -C "$1" --sort=name --format=gnu --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$2" .
}

ca=$(deb ca-certificates all)
mkdir -p "$tmp/ca"
dpkg-deb -x "$ca" "$tmp/ca"
# The applets of this busybox, from whichever architecture's binary runs here (one source, one
# configuration: both list the same).
case $(uname -m) in x86_64) host=amd64 ;; aarch64) host=arm64 ;; *) host= ;; esac
[ -n "$host" ] || die "listing busybox's applets needs an amd64 or arm64 host, not $(uname -m)"
mkdir -p "$tmp/bb-$host"
dpkg-deb -x "$(deb busybox-static "$host")" "$tmp/bb-$host"
"$tmp/bb-$host/bin/busybox" --list-full | sort >"$tmp/applets"
[ -s "$tmp/applets" ] || die "busybox --list-full listed no applets"

for arch in amd64 arm64; do
  root=$tmp/base-$arch
  mkdir -p "$tmp/bb-$arch" "$root/bin" "$root/etc/ssl/certs" "$root/tmp" "$root/root" "$root/home/nonroot" "$root/usr/share/doc"
  [ -f "$tmp/bb-$arch/bin/busybox" ] || dpkg-deb -x "$(deb busybox-static "$arch")" "$tmp/bb-$arch"
  install -m 0755 "$tmp/bb-$arch/bin/busybox" "$root/bin/busybox"
  while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -sf /bin/busybox "$root/$applet"
  done <"$tmp/applets"
  # update-ca-certificates' bundle: every certificate the package ships, in name order.
  find "$tmp/ca/usr/share/ca-certificates" -name '*.crt' | sort | while read -r c; do
    cat "$c"; [ -z "$(tail -c1 "$c")" ] || echo
  done >"$root/etc/ssl/certs/ca-certificates.crt"
  [ "$(grep -c 'BEGIN CERTIFICATE' "$root/etc/ssl/certs/ca-certificates.crt")" -gt 100 ] || die "the CA bundle has too few certificates"
  for pkg in busybox-static ca-certificates; do
    src=$tmp/ca/usr/share/doc/$pkg/copyright
    [ $pkg = busybox-static ] && src=$tmp/bb-$arch/usr/share/doc/$pkg/copyright
    install -D -m 0644 "$src" "$root/usr/share/doc/$pkg/copyright"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/home/nonroot:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
  chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/ssl/certs/ca-certificates.crt"
  chmod 1777 "$root/tmp"
  chmod 0700 "$root/root"
  tarball "$root" "$tmp/base-$arch.tar"

  app=$tmp/app-$arch
  mkdir -p "$app/ko-app"
  install -m 0755 "$dist/keyless-linux-$arch" "$app/ko-app/keyless"
  tarball "$app" "$tmp/app-$arch.tar"
done

# crane writes images and indexes to a registry; one on loopback, for this build only. Its
# address appears in no manifest (an empty base: no base-image annotations).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null) ||
  port=$((20000 + RANDOM % 20000))
"$TOOLS/bin/registry" -port "$port" >"$tmp/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 || die "the loopback registry did not start: $(cat "$tmp/registry.log")"
repo=127.0.0.1:$port/keyless
for arch in amd64 arm64; do
  "$crane" append --oci-empty-base -f "$tmp/base-$arch.tar" -f "$tmp/app-$arch.tar" -t "$repo:$arch" >/dev/null 2>>"$tmp/crane.log" ||
    die "crane append ($arch) failed: $(cat "$tmp/crane.log")"
  "$crane" mutate --set-platform "linux/$arch" --entrypoint /ko-app/keyless \
    --env PATH=/ko-app:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    -t "$repo:$arch" "$repo:$arch" >/dev/null 2>>"$tmp/crane.log" || die "crane mutate ($arch) failed: $(cat "$tmp/crane.log")"
done
"$crane" index append -t "$repo:index" -m "$repo:amd64" -m "$repo:arm64" >/dev/null 2>>"$tmp/crane.log" ||
  die "crane index append failed: $(cat "$tmp/crane.log")"
digest=$("$crane" digest "$repo:index")
"$crane" pull --format=oci "$repo:index" "$tmp/layout" 2>>"$tmp/crane.log" || die "crane pull failed: $(cat "$tmp/crane.log")"
grep -q "\"$digest\"" "$tmp/layout/index.json" || die "the OCI layout does not hold the index $digest"
tarball "$tmp/layout" "$tmp/image.tar"
mv "$tmp/image.tar" "$out"
printf 'release-image: %s: linux/amd64 and linux/arm64, index %s\n' "$out" "$digest" >&2
printf '%s\n' "$digest"
