#!/usr/bin/env bash
# `make bench`: one AssumeRoleWithWebIdentity exchange, timed three ways against the same MinIO STS
# (scripts/peers.sh) in one run: keyless, the AWS CLI v2, and a bare curl POST (the floor). Also the
# keyless binary's size and start-up cost (`keyless version`). bench/README.md says how to read it.
#
# Exits non-zero only on a setup error (a peer missing, a command that does not return
# credentials); a missed target is printed as FAIL and the run still exits 0.
# Knobs: BENCH_RUNS (default 30, at least 20), BENCH_WARMUP (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
export KEYLESS_TOOLS=${KEYLESS_TOOLS:-$HOME/.cache/keyless-tools}
export LC_ALL=C # printf '%.1f' and the byte-wise URL encoder below

RUNS=${BENCH_RUNS:-30}
WARMUP=${BENCH_WARMUP:-3}
MAX_KEYLESS_OVER_CURL=2 # keyless / curl, medians
MIN_AWS_OVER_KEYLESS=20 # aws-cli / keyless, medians
MAX_BIN_BYTES=15000000  # 15 MB (10^6 bytes)
AWS_CLI=/usr/bin/aws    # Debian's AWS CLI v2; another `aws` may come first on PATH

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

[[ $RUNS =~ ^[0-9]+$ ]] && ((RUNS >= 20)) || die "BENCH_RUNS=$RUNS: use a whole number of at least 20"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "BENCH_WARMUP=$WARMUP: use a whole number"

# --- peers -------------------------------------------------------------------------------------
scripts/install-peers.sh || die "scripts/install-peers.sh failed; fix the step it names and rerun make bench"
for tool in hyperfine curl "$AWS_CLI"; do
  command -v "$tool" >/dev/null || die "$tool not found; run scripts/install-peers.sh"
done
if command -v jq >/dev/null; then json_tool=jq
elif command -v python3 >/dev/null; then json_tool=python3
else die "neither jq nor python3 found to read hyperfine's JSON; apt-get install jq"
fi

# Only what this script sets reaches the three clients: no profile, region, proxy or keyless
# setting from the caller's shell changes what is measured.
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(AWS_|KEYLESS_)' | grep -vx KEYLESS_TOOLS || true)
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# shellcheck source=scripts/peers.sh
. scripts/peers.sh
peers_start || die "the test peers did not start (see above); run scripts/install-peers.sh"

# Everything secret (the token, the request body, the checks' credentials, hyperfine's JSON) stays
# in this 0700 directory, removed at exit with the peers. peers_start set its own EXIT trap.
umask 077
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyless-bench.XXXXXX")
chmod 700 "$tmp"
trap 'rm -rf "$tmp"; peers_stop' EXIT
export AWS_CONFIG_FILE="$tmp/aws-config" AWS_SHARED_CREDENTIALS_FILE="$tmp/aws-credentials" # absent
export AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true

STS=$KEYLESS_E2E_MINIO_URL
ROLE=$KEYLESS_E2E_ROLE_ARN
BIN=$KEYLESS_E2E_BIN
# One token for every run: valid an hour, the whole bench takes about a minute. It reaches keyless
# in KEYLESS_ID_TOKEN (as in a job) and the others through files, never a command line.
KEYLESS_ID_TOKEN=$(peers_mint "aud=$KEYLESS_E2E_AUD") || die "the test issuer minted no token"
export KEYLESS_ID_TOKEN
printf %s "$KEYLESS_ID_TOKEN" >"$tmp/token"

urlencode() {
  local s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [A-Za-z0-9._~-]) out+=$c ;;
      *) printf -v c '%%%02X' "'$c"; out+=$c ;;
    esac
  done
  printf %s "$out"
}
printf 'Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=%s&RoleSessionName=bench&WebIdentityToken=%s' \
  "$(urlencode "$ROLE")" "$(urlencode "$KEYLESS_ID_TOKEN")" >"$tmp/body"

# --- the commands ------------------------------------------------------------------------------
# Same role, same session name, same STS for all three. The AWS CLI reads the token with file://
# so it is not in any process's argv; passing it inline would also be fine here (a throwaway token
# from a test issuer, on loopback), but file:// costs nothing and leaves nothing to argue about.
names=(keyless aws-cli curl "keyless version" "curl --version")
cmd_keyless=("$BIN" aws --format json --role-arn "$ROLE" --sts-endpoint "$STS" --session-name bench)
cmd_aws=("$AWS_CLI" sts assume-role-with-web-identity --endpoint-url "$STS" --region us-east-1
  --role-arn "$ROLE" --role-session-name bench --web-identity-token "file://$tmp/token"
  --no-sign-request --output json)
cmd_curl=(curl -sS --fail-with-body --data-binary "@$tmp/body" "$STS/")
cmd_version=("$BIN" version)
# Start-up alone, to read the two exchanges net of it: curl is dynamically linked and starts slower
# than the static keyless binary, so "the floor" is not all network and STS.
cmd_curl_version=(curl --version)

# hyperfine -N runs a command without a shell, splitting it POSIX-style: quote every word.
shq() { local w out=""; for w in "$@"; do out+="'${w//\'/\'\\\'\'}' "; done; printf %s "${out% }"; }

# Run each exchange once, outside the timing: it must exit 0 and print an AccessKeyId. Its output
# stays in $tmp; on failure only stderr and a redacted stdout are shown.
redact() { sed -E 's/("(SecretAccessKey|SessionToken)"[[:space:]]*:[[:space:]]*")[^"]*/\1REDACTED/g; s#<(SecretAccessKey|SessionToken)>[^<]*#<\1>REDACTED#g'; }
check() { # name, argv...
  local name=$1 rc=0; shift
  "$@" >"$tmp/check-$name.out" 2>"$tmp/check-$name.err" </dev/null || rc=$?
  if ((rc != 0)) || ! grep -Eq 'AccessKeyId"?[[:space:]]*[>:][[:space:]]*"?[A-Za-z0-9]{16,}' "$tmp/check-$name.out"; then
    say "$name exited $rc without credentials; its stderr, then its stdout (redacted):"
    head -c 2000 "$tmp/check-$name.err" >&2
    redact <"$tmp/check-$name.out" | head -c 2000 >&2
    echo >&2
    die "$name did not return credentials from $STS; nothing was timed"
  fi
  say "$name: exit 0, AccessKeyId present"
}
check keyless "${cmd_keyless[@]}"
check aws-cli "${cmd_aws[@]}"
check curl "${cmd_curl[@]}"
"${cmd_version[@]}" >"$tmp/version.out" || die "keyless version failed"

# --- timing ------------------------------------------------------------------------------------
# -N: no shell between hyperfine and the client, so nothing to subtract. Output goes to /dev/null
# (hyperfine's default): no credentials on the terminal.
say "timing: $WARMUP warm-up runs and $RUNS timed runs of each command"
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$tmp/hyperfine.json" \
  -n "${names[0]}" "$(shq "${cmd_keyless[@]}")" \
  -n "${names[1]}" "$(shq "${cmd_aws[@]}")" \
  -n "${names[2]}" "$(shq "${cmd_curl[@]}")" \
  -n "${names[3]}" "$(shq "${cmd_version[@]}")" \
  -n "${names[4]}" "$(shq "${cmd_curl_version[@]}")" \
  || die "hyperfine failed (a command exited non-zero during the timed runs; see above)"

# name <TAB> median mean stddev min max, in seconds
if [ "$json_tool" = jq ]; then
  jq -r '.results[] | [.command, .median, .mean, .stddev, .min, .max] | @tsv' "$tmp/hyperfine.json"
else
  python3 -c 'import json,sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("\t".join([r["command"]] + [repr(r[k]) for k in ("median", "mean", "stddev", "min", "max")]))' "$tmp/hyperfine.json"
fi >"$tmp/results.tsv"

field() { awk -F'\t' -v n="$1" -v c="$2" '$1 == n { print $c }' "$tmp/results.tsv"; } # name, column
med_keyless=$(field keyless 2); med_aws=$(field aws-cli 2); med_curl=$(field curl 2); med_version=$(field "keyless version" 2)
med_curl_version=$(field "curl --version" 2)
for v in "$med_keyless" "$med_aws" "$med_curl" "$med_version" "$med_curl_version"; do
  [ -n "$v" ] || die "hyperfine's JSON lacks a result (hyperfine $(hyperfine --version) may name its fields differently)"
done
calc() { awk "BEGIN { print ($*) }"; } # parenthesised: a bare > in print is a redirection
ms() { calc "($1) * 1000" | xargs printf '%.1f'; } # seconds expression -> ms, one decimal
verdict() { if [ "$(calc "$1")" = 1 ]; then echo PASS; else echo FAIL; fi; } # awk condition

r_kc=$(calc "$med_keyless / $med_curl")
r_ak=$(calc "$med_aws / $med_keyless")
size=$(stat -c %s "$BIN")
v_kc=$(verdict "$r_kc <= $MAX_KEYLESS_OVER_CURL")
v_ak=$(verdict "$r_ak >= $MIN_AWS_OVER_KEYLESS")
v_size=$(verdict "$size <= $MAX_BIN_BYTES")

# --- report ------------------------------------------------------------------------------------
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
report() {
  cat <<EOF
# keyless STS bench, $stamp

One AssumeRoleWithWebIdentity exchange against the same MinIO STS on loopback, $RUNS timed runs
each after $WARMUP warm-up runs (hyperfine -N, output discarded).

| command | median (ms) | mean ± σ (ms) | min (ms) | max (ms) |
| --- | ---: | ---: | ---: | ---: |
EOF
  awk -F'\t' '{ printf "| %s | %.1f | %.1f ± %.1f | %.1f | %.1f |\n", $1, $2*1000, $3*1000, $4*1000, $5*1000, $6*1000 }' "$tmp/results.tsv"
  cat <<EOF

| check | value | target | result |
| --- | ---: | ---: | --- |
| keyless / curl (medians) | $(printf '%.2f' "$r_kc")x | ≤ ${MAX_KEYLESS_OVER_CURL}x | $v_kc |
| aws-cli / keyless (medians) | $(printf '%.1f' "$r_ak")x | ≥ ${MIN_AWS_OVER_KEYLESS}x | $v_ak |
| keyless binary size | $size bytes ($(calc "$size / 1000000" | xargs printf '%.2f') MB) | ≤ $(calc "$MAX_BIN_BYTES / 1000000") MB | $v_size |
| keyless start-up (\`keyless version\` median) | $(ms "$med_version") ms | report only | - |
| curl start-up (\`curl --version\` median) | $(ms "$med_curl_version") ms | report only | - |
| keyless net of start-up (≈ keyless − keyless version) | $(ms "$med_keyless - $med_version") ms | report only | - |
| curl net of start-up (≈ curl − curl --version) | $(ms "$med_curl - $med_curl_version") ms | report only | - |

Commands (\$TOKEN is one minted test token, \$STS the MinIO URL, \$ROLE its role):

- keyless: \`KEYLESS_ID_TOKEN=\$TOKEN keyless aws --format json --role-arn \$ROLE --sts-endpoint \$STS --session-name bench\`
- aws-cli: \`/usr/bin/aws sts assume-role-with-web-identity --endpoint-url \$STS --region us-east-1 --role-arn \$ROLE --role-session-name bench --web-identity-token file://TOKEN_FILE --no-sign-request --output json\`
- curl: \`curl -sS --fail-with-body --data-binary @BODY_FILE \$STS/\` (BODY_FILE: Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=…&RoleSessionName=bench&WebIdentityToken=…)
- keyless version, curl --version: start-up alone

Environment: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), $(uname -sr);
keyless $(git describe --tags --always --dirty 2>/dev/null || echo unknown) (\`$(cat "$tmp/version.out")\`, built by scripts/build-keyless.sh as make build does: CGO_ENABLED=0, -trimpath, -s -w, -tags urfave_cli_no_docs);
$("$AWS_CLI" --version 2>&1 | cut -d' ' -f1,2); $(curl --version | head -n1 | cut -d' ' -f1,2); minio $(cat "$KEYLESS_TOOLS/bin/.minio-version" 2>/dev/null || echo unknown); $(hyperfine --version).
EOF
}

out="bench/out/sts-$(date -u +%Y%m%dT%H%M%SZ).md"
(umask 022 && mkdir -p bench/out && report >"$out") # timings only: readable like any build output
# What lands in bench/out must carry no secret: neither the token nor a key the checks returned.
for s in "$KEYLESS_ID_TOKEN" $(cat "$tmp"/check-*.out | grep -oE '"SecretAccessKey"[[:space:]]*:[[:space:]]*"[^"]+"|<SecretAccessKey>[^<]+' | sed -E 's/.*[">]([^">]+)"?$/\1/'); do
  if grep -qF -- "$s" "$out"; then rm -f "$out"; die "the report would have carried a secret; nothing written"; fi
done
cp -p "$out" bench/out/latest.md

echo
cat "$out"
echo
missed=0
for v in "$v_kc" "$v_ak" "$v_size"; do [ "$v" = PASS ] || missed=$((missed + 1)); done
if ((missed)); then
  say "$missed of 3 targets missed (FAIL above); results in $out"
else
  say "all 3 targets met; results in $out"
fi
