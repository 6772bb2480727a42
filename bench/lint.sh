#!/usr/bin/env bash
# `make bench-lint`: keyless lint and gitleaks v8.30.1 (`gitleaks dir`) side by side, in one run, on
# two data sets: the real corpus (testdata/corpus) and a generated monorepo of 5,000 pipeline files
# with planted synthetic secrets (bench/lintgen). Reports files/s, MB/s, peak RSS and found/planted
# for both, then checks keyless against its targets. bench/README.md says how to read it.
#
# Exits non-zero only when a tool cannot be built, installed or run; a missed target is printed as
# FAIL and the run still exits 0.
# Knobs: BENCH_RUNS (default 5), BENCH_WARMUP (default 1), BENCH_FILES (default 5000),
# BENCH_SEED (default 1), BENCH_CORPUS (default testdata/corpus, else ../shared/corpus).
set -euo pipefail
cd "$(dirname "$0")/.."
export KEYLESS_TOOLS=${KEYLESS_TOOLS:-$HOME/.cache/keyless-tools}
export LC_ALL=C # printf '%.1f'

RUNS=${BENCH_RUNS:-5}
WARMUP=${BENCH_WARMUP:-1}
FILES=${BENCH_FILES:-5000}
SEED=${BENCH_SEED:-1}
CORPUS=${BENCH_CORPUS:-}
GITLEAKS_VERSION=v8.30.1
GITLEAKS_MODULE=github.com/zricethezav/gitleaks/v8 # gitleaks v8's module path (go.mod), not gitleaks/gitleaks
# keyless / gitleaks throughput, medians, per data set: 8x on the real corpus (issue 15), 3x on the
# generated monorepo (issue 4).
declare -A MIN_SPEEDUP=([corpus]=8 [monorepo]=3)
MAX_RSS_MB=100 # keyless peak RSS, MB of 10^6 bytes
TIME=/usr/bin/time # GNU time, for %M (peak RSS); the shell keyword cannot report it

say() { printf 'bench-lint: %s\n' "$*" >&2; }
die() { printf 'bench-lint: error: %s\n' "$*" >&2; exit 1; }

[[ $RUNS =~ ^[0-9]+$ ]] && ((RUNS >= 2)) || die "BENCH_RUNS=$RUNS: use a whole number of at least 2"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "BENCH_WARMUP=$WARMUP: use a whole number"
[[ $FILES =~ ^[0-9]+$ ]] && ((FILES >= 5)) || die "BENCH_FILES=$FILES: use a whole number of at least 5"
[[ $SEED =~ ^[0-9]+$ ]] || die "BENCH_SEED=$SEED: use a whole number"
if [ -z "$CORPUS" ]; then
  if [ -d testdata/corpus ]; then CORPUS=testdata/corpus; else CORPUS=../shared/corpus; fi
fi
[ -d "$CORPUS" ] || die "corpus $CORPUS not found; set BENCH_CORPUS to the corpus directory"
CORPUS=$(cd "$CORPUS" && pwd)

# --- tools -------------------------------------------------------------------------------------
if ! command -v hyperfine >/dev/null; then
  scripts/install-peers.sh || die "scripts/install-peers.sh failed; fix the step it names and rerun make bench-lint"
fi
command -v hyperfine >/dev/null || die "hyperfine not found; run scripts/install-peers.sh"
command -v python3 >/dev/null || die "python3 not found (it reads the tools' JSON); apt-get install python3"
if ! [ -x "$TIME" ]; then # Debian's package "time"
  say "apt-get install time (for $TIME, the peak RSS)"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends time >/dev/null
fi
"$TIME" -f %M -o /dev/null true 2>/dev/null || die "$TIME is not GNU time (-f %M); apt-get install time"

# gitleaks, pinned, built with go install like MinIO in scripts/install-peers.sh. A plain go install
# leaves its version string unset; -X sets it as upstream's Makefile does, so `gitleaks version`
# prints v8.30.1 and a second run skips the build.
mkdir -p "$KEYLESS_TOOLS/bin"
GITLEAKS=$KEYLESS_TOOLS/bin/gitleaks
if [ "$("$GITLEAKS" version 2>/dev/null)" != "$GITLEAKS_VERSION" ]; then
  say "go install $GITLEAKS_MODULE@$GITLEAKS_VERSION (about a minute, once)"
  GOBIN="$KEYLESS_TOOLS/bin" GOFLAGS=-mod=mod go install \
    -ldflags "-X=$GITLEAKS_MODULE/version.Version=$GITLEAKS_VERSION" "$GITLEAKS_MODULE@$GITLEAKS_VERSION" \
    || die "go install $GITLEAKS_MODULE@$GITLEAKS_VERSION failed (see above)"
  [ "$("$GITLEAKS" version 2>/dev/null)" = "$GITLEAKS_VERSION" ] || die "$GITLEAKS version does not print $GITLEAKS_VERSION after the install"
fi

# Only what this script sets reaches the two tools: no KEYLESS_LINT_* flag fallback, no gitleaks
# config from the environment.
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(KEYLESS_|GITLEAKS_)' | grep -vx KEYLESS_TOOLS || true)

# The generated monorepo holds synthetic secrets and gitleaks' report prints them: everything stays
# in this 0700 directory, removed at exit.
umask 077
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyless-bench-lint.XXXXXX")
chmod 700 "$tmp"
trap 'rm -rf "$tmp"' EXIT

failures=() # tools that did not build or run; any makes the exit status 1
KEYLESS=$tmp/keyless
if scripts/build-keyless.sh "$KEYLESS" 2>"$tmp/keyless-build.err"; then # as make build does
  keyless_version=$("$KEYLESS" version 2>/dev/null | head -n1 || true)
else
  say "keyless does not build; its rows are left empty. go build said:"
  head -n 20 "$tmp/keyless-build.err" >&2
  failures+=("keyless (go build ./cmd/keyless failed)")
  keyless_version="does not build"
fi

say "generating the monorepo: go run ./bench/lintgen -out DIR -files $FILES -seed $SEED"
go run ./bench/lintgen -out "$tmp/mono" -files "$FILES" -seed "$SEED" || die "bench/lintgen failed (see above)"

# --- data sets ---------------------------------------------------------------------------------
# name, directory both tools scan (their working directory, scanned as "."), root that planted.tsv
# paths are relative to, planted.tsv ("" for none).
datasets=(corpus monorepo)
declare -A ds_dir ds_root ds_planted ds_files ds_bytes
ds_dir[corpus]=$CORPUS; ds_root[corpus]=$CORPUS; ds_planted[corpus]=""
ds_dir[monorepo]=$tmp/mono/projects; ds_root[monorepo]=$tmp/mono; ds_planted[monorepo]=$tmp/mono/planted.tsv
for ds in "${datasets[@]}"; do
  # files/s and MB/s count the YAML files, the pipeline configuration both tools are asked about.
  read -r n b < <(find "${ds_dir[$ds]}" -type f \( -name '*.yml' -o -name '*.yaml' \) -printf '%s\n' | awk '{ n++; b += $1 } END { print n + 0, b + 0 }')
  ds_files[$ds]=$n; ds_bytes[$ds]=$b
  ((n > 0)) || die "${ds_dir[$ds]} has no .yml or .yaml file"
done

tools=(keyless gitleaks)
cmd_for() { # tool dataset kind(check|timed) -> the argv, one word a line
  local out=$tmp/$1-$2-$3.json
  case $1 in
    keyless) printf '%s\n' "$KEYLESS" lint -r --format json --output "$out" --fail-on never . ;;
    gitleaks) printf '%s\n' "$GITLEAKS" dir --no-banner --report-format json --report-path "$out" --exit-code 0 . ;;
  esac
}
# hyperfine -N runs a command without a shell, splitting it POSIX-style: quote every word.
shq() { local w out=""; for w in "$@"; do out+="'${w//\'/\'\\\'\'}' "; done; printf %s "${out% }"; }

# --- one checked run each, under GNU time for the peak RSS ----------------------------------------
declare -A ok rss
for ds in "${datasets[@]}"; do
  for tool in "${tools[@]}"; do
    ok[$tool,$ds]=0
    [ "$tool" = keyless ] && [ ! -x "$KEYLESS" ] && continue
    mapfile -t argv < <(cmd_for "$tool" "$ds" check)
    rc=0
    (cd "${ds_dir[$ds]}" && "$TIME" -f %M -o "$tmp/rss-$tool-$ds" "${argv[@]}" >"$tmp/$tool-$ds.out" 2>"$tmp/$tool-$ds.err") || rc=$?
    # keyless: 0 no findings, 1 findings (--fail-on never makes that 0 too); gitleaks: --exit-code 0.
    if ((rc > 1)) || { [ "$tool" = gitleaks ] && ((rc != 0)); } || [ ! -s "$tmp/$tool-$ds-check.json" ]; then
      say "$tool on $ds exited $rc without a JSON report; its stderr:"
      head -c 2000 "$tmp/$tool-$ds.err" >&2; echo >&2
      failures+=("$tool on $ds (exit $rc)")
      continue
    fi
    ok[$tool,$ds]=1
    rss[$tool,$ds]=$(tail -n1 "$tmp/rss-$tool-$ds") # kilobytes (KiB)
    say "$tool on $ds: exit $rc, peak RSS ${rss[$tool,$ds]} KiB"
  done
done

# --- timing ------------------------------------------------------------------------------------
declare -A med
for ds in "${datasets[@]}"; do
  hf=(hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$tmp/hyperfine-$ds.json")
  n=0
  for tool in "${tools[@]}"; do
    [ "${ok[$tool,$ds]}" = 1 ] || continue
    mapfile -t argv < <(cmd_for "$tool" "$ds" timed)
    hf+=(-n "$tool" "$(shq "${argv[@]}")")
    n=$((n + 1))
  done
  ((n)) || continue
  say "timing on $ds (${ds_files[$ds]} files): $WARMUP warm-up and $RUNS timed runs of each tool"
  if ! (cd "${ds_dir[$ds]}" && "${hf[@]}"); then
    failures+=("hyperfine on $ds (a tool failed during the timed runs)")
    continue
  fi
  while IFS=$'\t' read -r name m; do med[$name,$ds]=$m; done < <(python3 -c 'import json,sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(r["command"] + "\t" + repr(r["median"]))' "$tmp/hyperfine-$ds.json")
done

# --- found/planted -----------------------------------------------------------------------------
# A planted secret is found when a finding of the tool is in its file and on one of its lines
# (planted.tsv's line..end_line: a PEM block spans several). Paths are read relative to the
# directory scanned; keyless's, if relative to their project, are matched by suffix.
cat >"$tmp/count.py" <<'EOF'
import json, os, sys
tool, report, scan_dir, data_root, planted_tsv = sys.argv[1:6]
doc = json.load(open(report))
spans = []
if tool == "gitleaks":
    for f in doc or []:
        spans.append((f["File"], int(f["StartLine"]), int(f.get("EndLine") or f["StartLine"])))
else:
    for f in doc.get("findings") or []:
        line = int(f.get("line") or 0)
        spans.append((f.get("path", ""), line, int(f.get("end_line") or f.get("endLine") or line)))
rows = []
if planted_tsv:
    for r in open(planted_tsv).read().splitlines()[1:]:
        file, line, end, kind, construct, _ = r.split("\t")
        rows.append((file, int(line), int(end), kind, construct))
files = {r[0] for r in rows}
def norm(p):
    rel = os.path.relpath(os.path.normpath(os.path.join(scan_dir, p)), data_root)
    if rows and rel not in files:
        hits = [f for f in files if f.endswith("/" + p.lstrip("./"))]
        if len(hits) == 1:
            return hits[0]
    return rel
by_file = {}
for p, s, e in spans:
    by_file.setdefault(norm(p), []).append((s, e))
def hit(r, s, e):
    return s <= r[2] and e >= r[1]
found = [any(hit(r, s, e) for s, e in by_file.get(r[0], [])) for r in rows]
plant_by_file = {}
for r in rows:
    plant_by_file.setdefault(r[0], []).append(r)
elsewhere = sum(1 for p, s, e in spans if not any(hit(r, s, e) for r in plant_by_file.get(norm(p), [])))
print("total\t%d\t%d\t%d\t%d" % (len(spans), sum(found), len(rows), elsewhere))
agg = {}
for r, ok in zip(rows, found):
    for key in (("kind", r[3]), ("construct", r[4])):
        a = agg.setdefault(key, [0, 0])
        a[0] += ok
        a[1] += 1
for (k, v), (f, n) in sorted(agg.items()):
    print("%s\t%s\t%d\t%d" % (k, v, f, n))
EOF
declare -A findings found planted elsewhere
for ds in "${datasets[@]}"; do
  for tool in "${tools[@]}"; do
    [ "${ok[$tool,$ds]}" = 1 ] || continue
    python3 "$tmp/count.py" "$tool" "$tmp/$tool-$ds-check.json" "${ds_dir[$ds]}" "${ds_root[$ds]}" "${ds_planted[$ds]}" >"$tmp/count-$tool-$ds.tsv" \
      || die "reading $tool's JSON report on $ds failed (its format may have changed)"
    read -r _ findings[$tool,$ds] found[$tool,$ds] planted[$tool,$ds] elsewhere[$tool,$ds] < <(head -n1 "$tmp/count-$tool-$ds.tsv")
  done
done

# --- report ------------------------------------------------------------------------------------
calc() { awk "BEGIN { print ($*) }"; } # parenthesised: a bare > in print is a redirection
verdict() { if [ "$(calc "$1")" = 1 ]; then echo PASS; else echo FAIL; fi; } # awk condition
mb() { calc "$1 / 1000000" | xargs printf '%.2f'; } # bytes -> MB
have() { [ "${ok[$1,$2]}" = 1 ] && [ -n "${med[$1,$2]:-}" ]; }

stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
report() {
  cat <<EOF
# keyless lint vs gitleaks, $stamp

Each tool scans each data set as a whole process (hyperfine -N, $WARMUP warm-up and $RUNS timed runs,
median); peak RSS from one run under GNU time. files/s and MB/s count the data set's .yml/.yaml
files. MB = 10^6 bytes.

| dataset | tool | median (s) | files/s | MB/s | peak RSS (MB) | findings | found/planted |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |
EOF
  for ds in "${datasets[@]}"; do
    label="$ds (${ds_files[$ds]} files, $(mb "${ds_bytes[$ds]}") MB)"
    for tool in "${tools[@]}"; do
      if ! have "$tool" "$ds"; then
        echo "| $label | $tool | not run | | | | | |"
        continue
      fi
      m=${med[$tool,$ds]}
      fp="n/a"
      [ -n "${ds_planted[$ds]}" ] && fp="${found[$tool,$ds]}/${planted[$tool,$ds]}"
      printf '| %s | %s | %.3f | %.0f | %.2f | %.1f | %s | %s |\n' "$label" "$tool" "$m" \
        "$(calc "${ds_files[$ds]} / $m")" "$(calc "${ds_bytes[$ds]} / 1000000 / $m")" \
        "$(calc "${rss[$tool,$ds]} * 1024 / 1000000")" "${findings[$tool,$ds]}" "$fp"
    done
  done
  cat <<EOF

| check | value | target | result |
| --- | ---: | ---: | --- |
EOF
  missed=0
  for ds in "${datasets[@]}"; do
    if have keyless "$ds" && have gitleaks "$ds"; then
      r=$(calc "${med[gitleaks,$ds]} / ${med[keyless,$ds]}")
      v=$(verdict "$r >= ${MIN_SPEEDUP[$ds]}")
      printf '| keyless / gitleaks throughput, %s (gitleaks median / keyless median) | %.1fx | ≥ %sx | %s |\n' "$ds" "$r" "${MIN_SPEEDUP[$ds]}" "$v"
    else
      v=FAIL
      echo "| keyless / gitleaks throughput, $ds | not measured | ≥ ${MIN_SPEEDUP[$ds]}x | FAIL |"
    fi
    [ "$v" = PASS ] || missed=$((missed + 1))
  done
  for ds in "${datasets[@]}"; do
    if [ "${ok[keyless,$ds]}" = 1 ]; then
      r=$(calc "${rss[keyless,$ds]} * 1024 / 1000000")
      v=$(verdict "$r < $MAX_RSS_MB")
      printf '| keyless peak RSS, %s | %.1f MB | < %s MB | %s |\n' "$ds" "$r" "$MAX_RSS_MB" "$v"
    else
      v=FAIL
      echo "| keyless peak RSS, $ds | not measured | < $MAX_RSS_MB MB | FAIL |"
    fi
    [ "$v" = PASS ] || missed=$((missed + 1))
  done
  if [ "${ok[keyless,monorepo]}" = 1 ]; then
    v=$(verdict "${found[keyless,monorepo]} == ${planted[keyless,monorepo]}")
    echo "| keyless found/planted, monorepo | ${found[keyless,monorepo]}/${planted[keyless,monorepo]} | all | $v |"
  else
    v=FAIL
    echo "| keyless found/planted, monorepo | not measured | all | FAIL |"
  fi
  [ "$v" = PASS ] || missed=$((missed + 1))
  if [ "${ok[gitleaks,monorepo]}" = 1 ]; then
    echo "| gitleaks found/planted, monorepo | ${found[gitleaks,monorepo]}/${planted[gitleaks,monorepo]} | report only | - |"
  fi
  for tool in "${tools[@]}"; do
    if [ "${ok[$tool,monorepo]}" = 1 ]; then
      echo "| $tool findings not on a planted secret, monorepo | ${elsewhere[$tool,monorepo]} | report only | - |"
    fi
  done

  echo
  echo "Found/planted on the monorepo by secret kind and by the YAML construct it sits in:"
  echo
  echo "| | planted | keyless | gitleaks |"
  echo "| --- | ---: | ---: | ---: |"
  python3 - "$tmp/count-keyless-monorepo.tsv" "$tmp/count-gitleaks-monorepo.tsv" <<'EOF'
import os, sys
rows, order = {}, []
for i, path in enumerate(sys.argv[1:]):
    if not os.path.exists(path):
        continue
    for line in open(path).read().splitlines()[1:]:
        k, v, f, n = line.split("\t")
        key = "%s: %s" % (k, v)
        if key not in rows:
            rows[key] = [n, "-", "-"]
            order.append(key)
        rows[key][1 + i] = f
for key in sorted(order, key=lambda s: (not s.startswith("kind"), s)):
    n, a, b = rows[key]
    print("| %s | %s | %s | %s |" % (key, n, a, b))
EOF
  cat <<EOF

Commands (run in the data set's directory; OUT is a file in a temporary directory):

- keyless: \`keyless lint -r --format json --output OUT --fail-on never .\` (built by scripts/build-keyless.sh as make build does: CGO_ENABLED=0, -trimpath, -s -w, -tags urfave_cli_no_docs)
- gitleaks: \`gitleaks dir --no-banner --report-format json --report-path OUT --exit-code 0 .\` (default rules, no --max-target-megabytes)
- monorepo: \`go run ./bench/lintgen -out DIR -files $FILES -seed $SEED\`, scanned in DIR/projects; corpus: $CORPUS

Environment: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), $(uname -sr);
keyless \`$keyless_version\`; gitleaks $("$GITLEAKS" version); $(go version | cut -d' ' -f3); $(hyperfine --version).
EOF
  echo "$missed" >"$tmp/missed"
}

(umask 022 && mkdir -p bench/out)
out="bench/out/lint-$(date -u +%Y%m%dT%H%M%SZ).md"
report >"$tmp/report.md"
# The report holds counts only; make sure no planted secret slipped into it before it is kept.
if python3 - "$tmp/report.md" "$tmp/gitleaks-monorepo-check.json" <<'EOF'
import json, os, sys
report = open(sys.argv[1]).read()
leaks = json.load(open(sys.argv[2])) if os.path.exists(sys.argv[2]) else []
sys.exit(1 if any(l.get("Secret") and l["Secret"] in report for l in leaks or []) else 0)
EOF
then
  (umask 022 && cp "$tmp/report.md" "$out" && cp "$out" bench/out/lint-latest.md)
else
  die "the report would have carried a planted secret; nothing written"
fi

echo
cat "$out"
echo
missed=$(cat "$tmp/missed")
if ((${#failures[@]})); then
  say "failed to run: $(printf '%s; ' "${failures[@]}")results so far in $out"
  exit 1
fi
if ((missed)); then
  say "$missed of 5 targets missed (FAIL above); results in $out"
else
  say "all 5 targets met; results in $out"
fi
