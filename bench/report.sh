#!/usr/bin/env bash
# `make bench-report`: keyless report --instance over a synthetic GitLab of 10,000 projects with 5
# CI/CD variables each (cmd/keyless-fake-gitlab), answering every request after 20 ms and allowing
# 2,000 requests per minute per token, as GitLab.com does. Measures the whole run, then the same
# scope in 4 shards run in parallel and merged, against the lower bound the rate limit sets.
# bench/README.md ("keyless report at instance scale") says how to read it.
#
# Exits non-zero only on a setup error (a build, the fake or a keyless run failing); a missed
# target is printed as FAIL and the run still exits 0.
# Knobs: BENCH_PROJECTS (10000), BENCH_VARS (5), BENCH_GROUPS (50), BENCH_LATENCY (20ms),
# BENCH_JITTER (0s: a random part below it added to each request's latency, e.g. 200ms),
# BENCH_RPM (2000), BENCH_SHARDS (4), BENCH_SHARD_MODE (parallel|sequential), BENCH_CONCURRENCY (8),
# BENCH_RATE (40, keyless --rate, requests/s), BENCH_ALIGN (1: start each run on a minute),
# BENCH_SEED (1), BENCH_FAKE_ONLY (1: stop after checking and timing the fake alone), BENCH_KEYLESS
# (a keyless binary to run instead of building ./cmd/keyless).
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

PROJECTS=${BENCH_PROJECTS:-10000}
VARS=${BENCH_VARS:-5}
NGROUPS=${BENCH_GROUPS:-50}
LATENCY=${BENCH_LATENCY:-20ms}
JITTER=${BENCH_JITTER:-0s}
RPM=${BENCH_RPM:-2000}
SHARDS=${BENCH_SHARDS:-4}
SHARD_MODE=${BENCH_SHARD_MODE:-parallel}
CONCURRENCY=${BENCH_CONCURRENCY:-8}
RATE=${BENCH_RATE:-40}
ALIGN=${BENCH_ALIGN:-1}
SEED=${BENCH_SEED:-1}
FAKE_ONLY=${BENCH_FAKE_ONLY:-0}
MAX_RATIO=1.3     # wall time / rate-limit bound
MAX_RSS_KB=300000 # 300 MB (10^6 bytes), peak RSS of one keyless process

say() { printf 'bench-report: %s\n' "$*" >&2; }
die() { printf 'bench-report: error: %s\n' "$*" >&2; exit 1; }

for n in PROJECTS VARS NGROUPS RPM SHARDS CONCURRENCY; do
  [[ ${!n} =~ ^[0-9]+$ ]] || die "$n=${!n}: use a whole number"
done
((RPM > 0)) || die "BENCH_RPM must be positive: the bound is computed from it"
((SHARDS >= 1)) || die "BENCH_SHARDS must be at least 1"
[[ $SHARD_MODE == parallel || $SHARD_MODE == sequential ]] || die "BENCH_SHARD_MODE=$SHARD_MODE: parallel or sequential"
command -v python3 >/dev/null || die "python3 not found (it reads the JSON)"
command -v curl >/dev/null || die "curl not found"
[ -x /usr/bin/time ] || die "/usr/bin/time not found (Debian's time package: apt-get install time); it measures peak RSS"
# 2,000/min is 33.3 requests/s: keyless's own limiter must allow more, or it binds instead.
awk "BEGIN { exit !($RATE * 60 > $RPM) }" || say "warning: --rate $RATE/s is at most the server's $RPM/min: keyless's own limiter binds, not the server's"

# The tree holds synthetic credentials only, but the reports and the token stay in a 0700
# directory all the same, removed at exit with the fake.
umask 077
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyless-bench-report.XXXXXX")
fake_pid=
cleanup() {
  if [ -n "$fake_pid" ]; then kill "$fake_pid" 2>/dev/null || true; wait "$fake_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- build ---------------------------------------------------------------------------------------
say "building the fake GitLab and keyless"
CGO_ENABLED=0 go build -trimpath -o "$tmp/fake-gitlab" ./cmd/keyless-fake-gitlab || die "cmd/keyless-fake-gitlab does not build"
keyless_built=1
if [ -n "${BENCH_KEYLESS:-}" ]; then # a keyless built elsewhere (another version, to compare)
  cp "$BENCH_KEYLESS" "$tmp/keyless" || die "BENCH_KEYLESS=$BENCH_KEYLESS: cannot copy it"
else
  scripts/build-keyless.sh "$tmp/keyless" 2>"$tmp/build.err" || keyless_built=0 # as make build does
fi

# --- the fake ------------------------------------------------------------------------------------
say "starting the fake: $PROJECTS projects, $VARS variables each, $LATENCY latency (+ up to $JITTER), $RPM requests/min per token"
start_ns=$(date +%s%N)
"$tmp/fake-gitlab" -addr 127.0.0.1:0 -projects "$PROJECTS" -vars "$VARS" \
  -groups "$NGROUPS" -latency "$LATENCY" -latency-jitter "$JITTER" -rate-per-minute "$RPM" -seed "$SEED" \
  -url-file "$tmp/url" -token-file "$tmp/token" 2>"$tmp/fake.err" &
fake_pid=$!
for _ in $(seq 600); do
  [ -s "$tmp/url" ] && [ -s "$tmp/token" ] && break
  kill -0 "$fake_pid" 2>/dev/null || { cat "$tmp/fake.err" >&2; die "the fake GitLab exited"; }
  sleep 0.05
done
[ -s "$tmp/url" ] || die "the fake GitLab wrote no URL in 30 s"
fake_start_ms=$((($(date +%s%N) - start_ns) / 1000000))
URL=$(cat "$tmp/url")
FAKE_GITLAB_TOKEN=$(cat "$tmp/token")
export FAKE_GITLAB_TOKEN
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

stat_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
stats() { curl -sS --fail "$URL/-/stats"; }
stats >"$tmp/stats0.json" || die "GET $URL/-/stats failed"
admin=$(curl -sS --fail -H "PRIVATE-TOKEN: $FAKE_GITLAB_TOKEN" "$URL/api/v4/user" | python3 -c 'import json,sys; print(json.load(sys.stdin)["is_admin"])') \
  || die "GET /api/v4/user with the fake's token failed"
[ "$admin" = True ] || die "the fake's token is not an administrator's"

# The fake alone: every project listed with keyset pagination, one request after the other.
walk=$(python3 - "$URL" <<'EOF'
import json, os, re, sys, time, urllib.request
url = sys.argv[1] + "/api/v4/projects?pagination=keyset&per_page=100&order_by=id&sort=asc"
n = pages = 0
t0 = time.monotonic()
while url:
    req = urllib.request.Request(url, headers={"PRIVATE-TOKEN": os.environ["FAKE_GITLAB_TOKEN"]})
    with urllib.request.urlopen(req) as r:
        n += len(json.load(r))
        m = re.search(r'<([^>]+)>; rel="next"', r.headers.get("Link", ""))
    pages += 1
    url = m.group(1) if m else None
print(n, pages, "%.2f" % (time.monotonic() - t0))
EOF
) || die "listing the projects of the fake failed"
read -r walk_n walk_pages walk_s <<<"$walk"
[ "$walk_n" = "$PROJECTS" ] || die "the fake listed $walk_n projects, want $PROJECTS"
say "fake: up in $fake_start_ms ms; $walk_n projects listed in $walk_pages pages in $walk_s s"

if [ "$FAKE_ONLY" = 1 ]; then
  say "BENCH_FAKE_ONLY=1: stopping before keyless"
  exit 0
fi
if ((keyless_built == 0)); then
  cat "$tmp/build.err" >&2
  die "cmd/keyless does not build (above): the fake was checked, keyless report was not run"
fi

# --- keyless report --------------------------------------------------------------------------------
# Rack::Attack counts in windows aligned on the minute: a run that starts mid-window has the rest of
# that window's budget and can beat the bound. Starting each run just after a minute makes runs
# comparable (and the shards do not inherit what the whole run left of a window).
align() {
  [ "$ALIGN" = 1 ] || return 0
  local s=$((61 - $(date +%s) % 60))
  say "waiting ${s}s for the next minute (BENCH_ALIGN=0 skips)"
  sleep "$s"
}
common=(report --instance --gitlab-url "$URL" --token-env FAKE_GITLAB_TOKEN --concurrency "$CONCURRENCY" --rate "$RATE")
run_keyless() { # name, args...: runs keyless under /usr/bin/time; dies on a non-zero exit
  local name=$1 rc=0; shift
  /usr/bin/time -f %M -o "$tmp/$name.rss" "$tmp/keyless" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null || rc=$?
  if ((rc != 0)); then
    tail -n 30 "$tmp/$name.err" >&2
    die "keyless $name exited $rc (its stderr above)"
  fi
}
now_s() { date +%s.%N; }
calc() { awk "BEGIN { print ($*) }"; }

align
stats >"$tmp/stats1.json"
say "whole run: keyless ${common[*]} --format json"
t0=$(now_s)
run_keyless single "${common[@]}" --format json --output "$tmp/single.json"
t1=$(now_s)
stats >"$tmp/stats2.json"

align
stats >"$tmp/stats3.json"
say "$SHARDS shards ($SHARD_MODE)"
t2=$(now_s)
if [ "$SHARD_MODE" = parallel ]; then
  pids=()
  for i in $(seq "$SHARDS"); do
    run_keyless "shard-$i" "${common[@]}" --shard "$i/$SHARDS" --output "$tmp/shard-$i.json" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || die "a shard failed (above)"; done
else
  for i in $(seq "$SHARDS"); do
    run_keyless "shard-$i" "${common[@]}" --shard "$i/$SHARDS" --output "$tmp/shard-$i.json"
  done
fi
t3=$(now_s)
stats >"$tmp/stats4.json"
shard_files=()
for i in $(seq "$SHARDS"); do shard_files+=("$tmp/shard-$i.json"); done
run_keyless merge report merge --format json --output "$tmp/merged.json" "${shard_files[@]}"
t4=$(now_s)

# --- figures ---------------------------------------------------------------------------------------
delta() { # field, before, after
  echo $(($(stat_field "$1" <"$tmp/$3") - $(stat_field "$1" <"$tmp/$2")))
}
single_served=$(delta served stats1.json stats2.json)
single_throttled=$(delta throttled stats1.json stats2.json)
single_inra=$(delta in_retry_after stats1.json stats2.json 2>/dev/null || echo 0)
shard_served=$(delta served stats3.json stats4.json)
shard_throttled=$(delta throttled stats3.json stats4.json)
shard_inra=$(delta in_retry_after stats3.json stats4.json 2>/dev/null || echo 0)
single_wall=$(calc "$t1 - $t0")
shard_wall=$(calc "$t3 - $t2")
merge_wall=$(calc "$t4 - $t3")
single_bound=$(calc "$single_served * 60 / $RPM")
shard_bound=$(calc "$shard_served * 60 / $RPM")
single_ratio=$(calc "$single_wall / $single_bound")
shard_ratio=$(calc "$shard_wall / $shard_bound")
single_rss=$(cat "$tmp/single.rss")
shard_rss=0
for i in $(seq "$SHARDS"); do r=$(cat "$tmp/shard-$i.rss"); ((r > shard_rss)) && shard_rss=$r; done
merge_rss=$(cat "$tmp/merge.rss")
verdict() { if [ "$(calc "$1")" = 1 ]; then echo PASS; else echo FAIL; fi; }
v_single=$(verdict "$single_ratio <= $MAX_RATIO")
v_shard=$(verdict "$shard_ratio <= $MAX_RATIO")
v_rss=$(verdict "$single_rss < $MAX_RSS_KB && $shard_rss < $MAX_RSS_KB && $merge_rss < $MAX_RSS_KB")

# The merged report must be the whole run's, but for when it was made and the shard marks.
compare=$(python3 - "$tmp/single.json" "$tmp/merged.json" <<'EOF'
import json, sys
def load(p):
    r = json.load(open(p))
    for k in ("generated_at", "shard"):
        r.pop(k, None)
    r.get("summary", {}).pop("api_requests", None)  # the shards send more requests than one run
    return r
a, b = load(sys.argv[1]), load(sys.argv[2])
if a == b:
    print("equal (%d projects, %d credentials)" % (len(a.get("projects") or []), len(a.get("credentials") or [])))
    sys.exit(0)
diffs = []
def walk(x, y, path):
    if len(diffs) >= 5:
        return
    if type(x) is not type(y):
        diffs.append(f"{path}: {type(x).__name__} vs {type(y).__name__}")
    elif isinstance(x, dict):
        for k in sorted(set(x) | set(y)):
            if k not in x or k not in y:
                diffs.append(f"{path}.{k}: only in the {'whole run' if k in x else 'merge'}")
            else:
                walk(x[k], y[k], f"{path}.{k}")
    elif isinstance(x, list):
        if len(x) != len(y):
            diffs.append(f"{path}: {len(x)} vs {len(y)} items")
        for i, (u, v) in enumerate(zip(x, y)):
            walk(u, v, f"{path}[{i}]")
    elif x != y:
        diffs.append(f"{path} differs")
walk(a, b, "")
print("differ: " + "; ".join(diffs))
EOF
)
v_merge=FAIL
[[ $compare == equal* ]] && v_merge=PASS

mb() { calc "$1 / 1000" | xargs printf '%.1f'; } # KB -> MB (10^6 bytes)
fake_rss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$fake_pid/status" 2>/dev/null || echo 0) # peak RSS, KB
kill "$fake_pid" 2>/dev/null || true
wait "$fake_pid" 2>/dev/null || true
fake_pid=
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
report() {
  cat <<EOF
# keyless report at instance scale, $stamp

Fake GitLab: $PROJECTS projects × $VARS variables, $NGROUPS groups, $LATENCY per request (+ up to $JITTER),
$RPM requests/min per token (429 + Retry-After beyond), seed $SEED; up in $fake_start_ms ms, peak
RSS $(mb "$fake_rss") MB. Listing its $walk_n projects alone (keyset, $walk_pages pages, sequential): $walk_s s.
keyless: \`keyless ${common[*]/$URL/\$URL}\`; shards: $SHARDS, $SHARD_MODE, one token.

| run | wall (s) | requests served | 429s | bound (s) | wall / bound | peak RSS (MB) |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
| whole | $(printf '%.1f' "$single_wall") | $single_served | $single_throttled | $(printf '%.1f' "$single_bound") | $(printf '%.2f' "$single_ratio")x | $(mb "$single_rss") |
| $SHARDS shards ($SHARD_MODE) | $(printf '%.1f' "$shard_wall") | $shard_served | $shard_throttled | $(printf '%.1f' "$shard_bound") | $(printf '%.2f' "$shard_ratio")x | $(mb "$shard_rss") (largest shard) |
| merge | $(printf '%.2f' "$merge_wall") | 0 | 0 | - | - | $(mb "$merge_rss") |

bound = requests served (not 429) ÷ $RPM/min: the least time GitLab's limit allows for them.
Requests sent = served + 429s; served is the minimum the report needs. Inside Retry-After: the
requests that arrived while their token had been told to wait (issue 16); the fake answers them
429 with the rest of the wait. Whole run: $((single_served + single_throttled)) sent for $single_served needed,
$single_throttled 429s, $single_inra inside Retry-After; shards: $((shard_served + shard_throttled)) sent for
$shard_served needed, $shard_throttled 429s, $shard_inra inside Retry-After.

| check | value | target | result |
| --- | ---: | ---: | --- |
| whole run, wall / bound | $(printf '%.2f' "$single_ratio")x | ≤ ${MAX_RATIO}x | $v_single |
| $SHARDS shards, wall / bound | $(printf '%.2f' "$shard_ratio")x | ≤ ${MAX_RATIO}x | $v_shard |
| peak RSS, each keyless process | $(mb "$single_rss") / $(mb "$shard_rss") / $(mb "$merge_rss") MB | < $(calc "$MAX_RSS_KB / 1000") MB | $v_rss |
| merged JSON = whole JSON (but generated_at, shard) | $compare | equal | $v_merge |

Environment: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), $(uname -sr), $(go version | cut -d' ' -f3);
keyless $(git describe --tags --always --dirty 2>/dev/null || echo unknown).
EOF
}

out="bench/out/report-$(date -u +%Y%m%dT%H%M%SZ).md"
# bench/out holds timings only: readable like any build output. The report never carries the
# token or a value; check anyway.
(umask 022 && mkdir -p bench/out && report >"$out")
if grep -qF -- "$FAKE_GITLAB_TOKEN" "$out"; then rm -f "$out"; die "the summary would have carried the token; nothing written"; fi
cp -p "$out" bench/out/report-latest.md
echo
cat "$out"
echo
missed=0
for v in "$v_single" "$v_shard" "$v_rss" "$v_merge"; do [ "$v" = PASS ] || missed=$((missed + 1)); done
if ((missed)); then say "$missed of 4 targets missed (FAIL above); results in $out"
else say "all 4 targets met; results in $out"; fi
