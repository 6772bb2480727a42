#!/usr/bin/env bash
# `make test`: installs every peer (idempotently), starts them on loopback, and runs every test,
# unit and end-to-end, in one `go test` run. Extra arguments go to go test (e.g. -run AWS -v).
set -euo pipefail
cd "$(dirname "$0")/.."
export KEYLESS_TOOLS=${KEYLESS_TOOLS:-$HOME/.cache/keyless-tools}
scripts/install-peers.sh
go vet ./...
# shellcheck source=scripts/peers.sh
. scripts/peers.sh
peers_start
KEYLESS_E2E=1 go test -race -count=1 "$@" ./...
