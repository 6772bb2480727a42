#!/usr/bin/env bash
# `make demo`: the whole keyless AWS exchange on this machine, no cloud account needed.
# A GitLab-shaped OIDC issuer and MinIO's STS (a real AssumeRoleWithWebIdentity server) start on
# loopback; a job token is minted; keyless exchanges it and runs the AWS CLI with the result.
# Everything stops and is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export KEYLESS_TOOLS=${KEYLESS_TOOLS:-$HOME/.cache/keyless-tools}

bold= off=
if [ -t 1 ]; then bold=$(tput bold 2>/dev/null || true); off=$(tput sgr0 2>/dev/null || true); fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$off"; }
show() { printf '  $ %s\n' "$*"; }

step "1. Install the peers (idempotent): MinIO, the AWS CLI v2, gitlab-ci-local"
scripts/install-peers.sh

step "2. Start a GitLab-shaped OIDC issuer and MinIO's STS, which trusts it (audience sts.amazonaws.com)"
# shellcheck source=scripts/peers.sh
. scripts/peers.sh
peers_start
echo "  issuer:  $KEYLESS_E2E_ISSUER_URL (discovery at /.well-known/openid-configuration, keys at /oauth/discovery/keys)"
echo "  STS:     $KEYLESS_E2E_MINIO_URL (MinIO)"
echo "  role:    $KEYLESS_E2E_ROLE_ARN"

step "3. GitLab gives the job an ID token (id_tokens: KEYLESS_ID_TOKEN: aud: sts.amazonaws.com); here the test issuer mints one in the shape GitLab.com sends (testdata/gitlab/id-tokens/gitlab-com.json)"
KEYLESS_ID_TOKEN=$(peers_mint "aud=$KEYLESS_E2E_AUD&project_path=acme/payments&ref=main&protected=true")
export KEYLESS_ID_TOKEN
echo "  KEYLESS_ID_TOKEN holds ${#KEYLESS_ID_TOKEN} bytes; keyless never prints it. Its claims:"
show "keyless token --verify --issuer $KEYLESS_E2E_ISSUER_URL"
"$KEYLESS_E2E_BIN" token --verify --issuer "$KEYLESS_E2E_ISSUER_URL"

aws_cli=/usr/bin/aws
kl=("$KEYLESS_E2E_BIN" aws --role-arn "$KEYLESS_E2E_ROLE_ARN" --sts-endpoint "$KEYLESS_E2E_MINIO_URL")

step "4. Exchange it and run the AWS CLI with the credentials in its environment only"
echo "  (MinIO's STS has no GetCallerIdentity, so the demo proves the credentials with S3 calls)"
show "keyless aws --role-arn ROLE --sts-endpoint STS -- aws s3 mb s3://keyless-demo"
"${kl[@]}" -- "$aws_cli" --endpoint-url "$KEYLESS_E2E_MINIO_URL" s3 mb s3://keyless-demo
show "keyless aws --role-arn ROLE --sts-endpoint STS -- aws s3 ls"
"${kl[@]}" -- "$aws_cli" --endpoint-url "$KEYLESS_E2E_MINIO_URL" s3 ls

step "5. Or export them in a job's shell, as the component's before_script does"
show 'eval "$(keyless aws ...)"; aws s3 ls'
(
  env_lines=$("${kl[@]}" -q)
  eval "$env_lines"
  echo "  AWS_ACCESS_KEY_ID is set (${#AWS_ACCESS_KEY_ID} characters), expires $AWS_CREDENTIAL_EXPIRATION"
  "$aws_cli" --endpoint-url "$KEYLESS_E2E_MINIO_URL" s3 ls
)

step "6. A token for another audience is refused, and keyless explains why"
show "keyless aws ... (token with aud https://gitlab.example.com)"
KEYLESS_ID_TOKEN=$(peers_mint "aud=https://gitlab.example.com&project_path=acme/payments") \
  "${kl[@]}" --format json || echo "  (exit code $?: the exchange was refused)"

step "Done. The issuer and MinIO are stopped and their files removed."
