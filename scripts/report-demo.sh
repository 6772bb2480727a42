#!/usr/bin/env bash
# `make report-demo`: keyless report against the fake GitLab (cmd/keyless-fake-gitlab, a synthetic
# instance on loopback: groups, projects with pipelines, CI/CD variables holding synthetic keys).
# Writes report-demo/report.md and report-demo/report.html (or into the directory given).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-report-demo}
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

scripts/build-keyless.sh "$tmp/keyless"
go build -o "$tmp/fake-gitlab" ./cmd/keyless-fake-gitlab
"$tmp/fake-gitlab" -addr 127.0.0.1:0 -projects "${REPORT_DEMO_PROJECTS:-12}" -url-file "$tmp/url" -token-file "$tmp/token" &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/url" ] && [ -s "$tmp/token" ] && break; sleep 0.05; done
[ -s "$tmp/url" ] || { echo "report-demo: the fake GitLab did not start" >&2; exit 3; }

FAKE_GITLAB_TOKEN=$(cat "$tmp/token")
export FAKE_GITLAB_TOKEN
mkdir -p "$out"
for format in markdown html; do
  ext=md; [ "$format" = html ] && ext=html
  "$tmp/keyless" report --instance --gitlab-url "$(cat "$tmp/url")" --token-env FAKE_GITLAB_TOKEN \
    --format "$format" --output "$out/report.$ext" --rate 200
done
echo "report-demo: open $out/report.html (or read $out/report.md)" >&2
