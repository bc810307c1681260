#!/usr/bin/env bash
# Runs every libFuzzer target in DIR (build-asan/fuzz) for SECONDS each, starting
# from its seed corpus fuzz/corpus/<target> and its regression cases
# fuzz/regressions/<target>; new inputs go to DIR/work/corpus/<target>, findings
# to DIR/work/findings/<target>/. Prints executions and corpus size per target;
# exits 1 on any finding (crash, sanitizer report, broken invariant, leak,
# timeout, an allocation of 256 MB or more, or 2 GB resident).
#   usage: scripts/fuzz.sh DIR [SECONDS] [TARGET...]
set -uo pipefail
DIR=${1:?usage: fuzz.sh DIR [SECONDS] [TARGET...]}
SECS=${2:-60}
shift; shift || true
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK="$DIR/work"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for bin in "$DIR"/*_fuzz; do targets+=("$(basename "$bin")"); done
fi
status=0
printf '%-28s %8s %12s %8s  %s\n' target seconds executions corpus result
for name in "${targets[@]}"; do
  bin="$DIR/$name"
  [ -x "$bin" ] || { echo "fuzz.sh: no target $bin" >&2; exit 2; }
  corpus="$WORK/corpus/$name"
  findings="$WORK/findings/$name"
  mkdir -p "$corpus" "$findings"
  dirs=("$corpus")
  for d in "$ROOT/fuzz/corpus/$name" "$ROOT/fuzz/regressions/$name"; do
    [ -d "$d" ] && dirs+=("$d")
  done
  log="$WORK/$name.log"
  TMPDIR="$WORK" "$bin" -max_total_time="$SECS" -print_final_stats=1 -seed="${FUZZ_SEED:-1}" \
    -rss_limit_mb=2048 -malloc_limit_mb=256 -timeout=30 -max_len=262144 \
    -artifact_prefix="$findings/" "${dirs[@]}" >"$log" 2>&1 </dev/null
  rc=$?
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
  size=$(find "$corpus" -type f | wc -l)
  if [ $rc -eq 0 ]; then result=ok; else result="FINDING (exit $rc, see $log)"; status=1; fi
  printf '%-28s %8s %12s %8s  %s\n' "$name" "$SECS" "${execs:-?}" "$size" "$result"
  if [ $rc -ne 0 ]; then
    grep -E 'ERROR|SUMMARY|invariant|==[0-9]+==|Test unit written' "$log" | head -20 >&2
  fi
done
exit $status
