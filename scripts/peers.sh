# Sourced, not run: starts the test peers on loopback and stops them on exit.
#   peers_start   builds keyless and the test issuer into $PEERS_DIR/bin, starts the
#                 GitLab-shaped issuer and MinIO (its STS trusts the issuer), and exports
#                 KEYLESS_E2E_ISSUER_URL, KEYLESS_E2E_MINIO_URL, KEYLESS_E2E_ROLE_ARN,
#                 KEYLESS_E2E_BIN (the keyless binary) and KEYLESS_E2E_AUD
#   peers_mint    prints a fresh token: peers_mint [query], e.g. peers_mint 'aud=other'
#   peers_stop    stops them and removes $PEERS_DIR (registered as an EXIT trap)
# MinIO runs with a throwaway root user that exists only in this process tree.

: "${KEYLESS_TOOLS:=$HOME/.cache/keyless-tools}"

_peers_free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  echo "peers: no free port" >&2; return 1
}

_peers_wait() { # url, what, log
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "peers: $2 did not come up at $1; its log:" >&2; tail -n 30 "$3" >&2; return 1
}

peers_start() {
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  PEERS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/keyless-peers.XXXXXX")
  trap peers_stop EXIT
  mkdir -p "$PEERS_DIR/bin"
  local version
  version=$(cd "$root" && git describe --tags --always --dirty 2>/dev/null || echo dev)
  (cd "$root" && VERSION=$version scripts/build-keyless.sh "$PEERS_DIR/bin/keyless" \
    && go build -o "$PEERS_DIR/bin/keyless-test-issuer" ./internal/oidctest/cmd/keyless-test-issuer) || return 1

  "$PEERS_DIR/bin/keyless-test-issuer" -url-file "$PEERS_DIR/issuer.url" >"$PEERS_DIR/issuer.log" 2>&1 &
  echo $! >"$PEERS_DIR/issuer.pid"
  for _ in $(seq 1 100); do [ -s "$PEERS_DIR/issuer.url" ] && break; sleep 0.05; done
  KEYLESS_E2E_ISSUER_URL=$(cat "$PEERS_DIR/issuer.url")
  _peers_wait "$KEYLESS_E2E_ISSUER_URL/.well-known/openid-configuration" issuer "$PEERS_DIR/issuer.log" || return 1

  local port
  port=$(_peers_free_port) || return 1
  KEYLESS_E2E_AUD=sts.amazonaws.com
  MINIO_ROOT_USER=keyless-e2e-admin MINIO_ROOT_PASSWORD="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
  MINIO_IDENTITY_OPENID_CONFIG_URL="$KEYLESS_E2E_ISSUER_URL/.well-known/openid-configuration" \
  MINIO_IDENTITY_OPENID_CLIENT_ID="$KEYLESS_E2E_AUD" \
  MINIO_IDENTITY_OPENID_ROLE_POLICY=readwrite \
  MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CI_CD=1 \
    "$KEYLESS_TOOLS/bin/minio" server "$PEERS_DIR/minio-data" --quiet --address "127.0.0.1:$port" \
    >"$PEERS_DIR/minio.log" 2>&1 &
  echo $! >"$PEERS_DIR/minio.pid"
  KEYLESS_E2E_MINIO_URL="http://127.0.0.1:$port"
  _peers_wait "$KEYLESS_E2E_MINIO_URL/minio/health/ready" MinIO "$PEERS_DIR/minio.log" || return 1
  # MinIO names the role of a role-policy OpenID config after its client id:
  # arn:minio:iam:::role/ + base64url(sha1(client id)), unpadded; the log line confirms it.
  KEYLESS_E2E_ROLE_ARN="arn:minio:iam:::role/$(printf %s "$KEYLESS_E2E_AUD" | openssl sha1 -binary | base64 | tr '+/' '-_' | tr -d '=')"
  KEYLESS_E2E_BIN="$PEERS_DIR/bin/keyless"
  export KEYLESS_E2E_ISSUER_URL KEYLESS_E2E_MINIO_URL KEYLESS_E2E_ROLE_ARN KEYLESS_E2E_BIN KEYLESS_E2E_AUD PEERS_DIR
}

peers_mint() {
  curl -fsS "$KEYLESS_E2E_ISSUER_URL/-/mint?${1:-}"
}

peers_stop() {
  [ -n "${PEERS_DIR:-}" ] && [ -d "$PEERS_DIR" ] || return 0
  local f
  for f in "$PEERS_DIR"/*.pid; do
    [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null
  done
  for f in "$PEERS_DIR"/*.pid; do
    [ -e "$f" ] || continue
    for _ in $(seq 1 50); do kill -0 "$(cat "$f")" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$(cat "$f")" 2>/dev/null || true
  done
  rm -rf "$PEERS_DIR"
}
