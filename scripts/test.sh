#!/usr/bin/env bash
# `make test`: installs every peer (idempotently), starts them on loopback, and runs every test,
# unit and end-to-end, in one `go test` run. Extra arguments go to go test (e.g. -run AWS -v).
set -euo pipefail
cd "$(dirname "$0")/.."
export KEYLESS_TOOLS=${KEYLESS_TOOLS:-$HOME/.cache/keyless-tools}
scripts/install-peers.sh
go vet ./...
go vet -tags keyless_slim ./...   # the helper-only build (make build-slim) compiles too
# shellcheck source=scripts/peers.sh
. scripts/peers.sh
peers_start
KEYLESS_E2E=1 go test -race -count=1 "$@" ./...
# The helper-only build: internal/cli is the one package whose code differs by the tag (its
# commands, and so its help); cmd/keyless checks what the binary CI jobs download says.
go test -tags keyless_slim -count=1 "$@" ./internal/cli ./cmd/keyless
# The fuzz targets, briefly (make fuzz runs them longer); only for a full run. Counts, not
# durations: with a duration, Go's fuzz coordinator (before Go 1.27) can fail a target that found
# nothing with "context deadline exceeded" as the time runs out (golang/go#75804); a count has no
# deadline to race. Each is about 10 s of fuzzing here; KEYLESS_FUZZTIME overrides them all.
if [ $# -eq 0 ]; then
  go test -run '^$' -fuzz FuzzParse -fuzztime "${KEYLESS_FUZZTIME:-100000x}" ./internal/pipeline
  go test -run '^$' -fuzz FuzzParse -fuzztime "${KEYLESS_FUZZTIME:-300000x}" ./internal/pipeline/yamlfast
  go test -run '^$' -fuzz FuzzScan -fuzztime "${KEYLESS_FUZZTIME:-300000x}" ./internal/detect
  go test -run '^$' -fuzz FuzzDecodeClaims -fuzztime "${KEYLESS_FUZZTIME:-40000x}" ./internal/idtoken
  for p in aws azure gcp vault; do
    go test -run '^$' -fuzz FuzzExplain -fuzztime "${KEYLESS_POLICY_FUZZTIME:-100000x}" ./internal/policy/$p
  done
fi
