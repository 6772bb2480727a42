#!/usr/bin/env bash
# scripts/build-keyless.sh OUT [TAGS]: ./cmd/keyless as users get it, the one definition that make
# build, make build-slim, scripts/release-build.sh, scripts/peers.sh, the benchmarks and CI share,
# so what is benchmarked is what ships.
#
# Static (CGO_ENABLED=0), -trimpath, stripped (-s -w), stamped with VERSION (default: git
# describe). TAGS (space- or comma-separated, e.g. keyless_slim) are added to urfave_cli_no_docs,
# which leaves out urfave/cli's man page and markdown generation, unused here, and the init of
# blackfriday and go-md2man it links (issue 15). GOOS and GOARCH come from the environment.
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: scripts/build-keyless.sh OUT [TAGS]" >&2; exit 2; }
out=$1 tags=${2:-}
case $out in /*) ;; *) out=$PWD/$out ;; esac
cd "$(dirname "$0")/.."
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
read -ra extra <<<"${tags//,/ }"
tags=$(IFS=,; echo "urfave_cli_no_docs${extra[*]:+,${extra[*]}}")
CGO_ENABLED=0 go build -trimpath -tags "$tags" \
  -ldflags "-s -w -X gitlab.com/keyless-ci/keyless/internal/cli.Version=$VERSION" -o "$out" ./cmd/keyless
