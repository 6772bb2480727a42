#!/usr/bin/env bash
# Installs every peer the tests, the demo and the benchmark need, idempotently:
# a second run checks and returns in about a second.
#   - Debian: awscli (the AWS CLI v2, at /usr/bin/aws), rsync (gitlab-ci-local needs it),
#     hyperfine, time and python3 (bench/), curl, openssl, busybox (the components' scripts are
#     tested with busybox sh, Alpine's shell, as well as dash and bash), twine (keyless pypi runs it)
#   - MinIO, pinned, built with go install: the real STS the AWS tests run against
#   - gitlab-ci-local 4.73.0 from npm (newer releases need Node 22): a real GitLab CI interpreter
#   - from npm, for the npm publishing tests (issue 18): Verdaccio 6.8.0 (a real npm registry; 6.9
#     and later need Node 22), pnpm 10, yarn 1 and yarn 4 (@yarnpkg/cli-dist, `yarn npm publish`)
#   - Debian's python3-poetry (1.3.2): poetry publish; PyPI itself is out of reach here, so uv and
#     pypiserver cannot be installed
# Everything not from apt goes under $KEYLESS_TOOLS (default ~/.cache/keyless-tools), outside any
# checkout, so fresh clones and CI runs share one build.
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
GCL_VERSION=4.73.0
VERDACCIO_VERSION=6.8.0
PNPM_VERSION=10.34.8
YARN1_VERSION=1.22.22
YARN4_VERSION=4.18.1
TOOLS=${KEYLESS_TOOLS:-$HOME/.cache/keyless-tools}
mkdir -p "$TOOLS/bin"

say() { printf 'install-peers: %s\n' "$*" >&2; }

missing=()
for pkg in awscli rsync hyperfine curl openssl time python3 busybox twine python3-poetry; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  say "apt-get install ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$(cat "$TOOLS/bin/.minio-version" 2>/dev/null)" != "$MINIO_VERSION" ] || [ ! -x "$TOOLS/bin/minio" ]; then
  say "go install github.com/minio/minio@$MINIO_VERSION (about two minutes, once)"
  GOBIN="$TOOLS/bin" GOFLAGS=-mod=mod go install "github.com/minio/minio@$MINIO_VERSION"
  echo "$MINIO_VERSION" >"$TOOLS/bin/.minio-version"
fi

gcl="$TOOLS/gitlab-ci-local/node_modules/.bin/gitlab-ci-local"
if [ ! -x "$gcl" ] || [ "$("$gcl" --version 2>/dev/null)" != "$GCL_VERSION" ]; then
  say "npm install gitlab-ci-local@$GCL_VERSION"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS/gitlab-ci-local" "gitlab-ci-local@$GCL_VERSION" >/dev/null
fi
ln -sf "$gcl" "$TOOLS/bin/gitlab-ci-local"

# npm_peer DIR PACKAGE VERSION BIN: npm install PACKAGE@VERSION into $TOOLS/DIR unless that version
# is there, and link its BIN as $TOOLS/bin/DIR.
npm_peer() {
  local dir=$TOOLS/$1 pkg=$2 version=$3 bin=$4 have
  have=$(node -p "require('$dir/node_modules/$pkg/package.json').version" 2>/dev/null || true)
  if [ "$have" != "$version" ] || [ ! -x "$dir/node_modules/.bin/$bin" ]; then
    say "npm install $pkg@$version"
    npm install --silent --no-audit --no-fund --prefix "$dir" "$pkg@$version" >/dev/null
  fi
  ln -sf "$dir/node_modules/.bin/$bin" "$TOOLS/bin/$1"
}
npm_peer verdaccio verdaccio "$VERDACCIO_VERSION" verdaccio
npm_peer pnpm pnpm "$PNPM_VERSION" pnpm
npm_peer yarn1 yarn "$YARN1_VERSION" yarn
npm_peer yarn4 @yarnpkg/cli-dist "$YARN4_VERSION" yarn

say "ready: $TOOLS/bin (minio $MINIO_VERSION, gitlab-ci-local $("$gcl" --version), verdaccio $VERDACCIO_VERSION, pnpm $PNPM_VERSION, yarn $YARN1_VERSION and $YARN4_VERSION), $(/usr/bin/aws --version 2>&1 | cut -d' ' -f1)"
