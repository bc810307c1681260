#!/usr/bin/env bash
# Peak resident memory of `lowbit inspect` and `lowbit convert` on every input of
# the given folders (fuzz corpora: what the fuzzers produced), against the bound
# the readers promise: twice the file's size plus a fixed amount. Prints the
# largest fixed amount any input needed; exits 1 when one needs more than
# FIXED_MIB (default 96) or when lowbit dies of a signal.
#   usage: scripts/reader_memory.sh LOWBIT KIND:DIR...
#   KIND: safetensors or gguf (each file of DIR), +safetensors (each file minus
#   its first byte: quantize_fuzz's selector), onnx (each subfolder of DIR holding
#   m.onnx and maybe w.bin, as onnx_fuzz writes with LOWBIT_FUZZ_KEEP=DIR).
set -uo pipefail
BIN=${1:?usage: reader_memory.sh LOWBIT KIND:DIR...}
shift
[ $# -gt 0 ] || { echo "reader_memory.sh: no KIND:DIR given" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "reader_memory.sh: needs /usr/bin/time (Debian package time)" >&2; exit 2; }
FIXED_MIB=${FIXED_MIB:-96}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
# Runs lowbit ARGS under /usr/bin/time; prints the peak in KiB.
peak_kb() {
  local out
  out=$(/usr/bin/time -f '%x %M' "$BIN" "$@" 2>&1 >/dev/null </dev/null | tail -1)
  local code=${out% *} kb=${out#* }
  if ! [[ "$kb" =~ ^[0-9]+$ ]] || ! [[ "$code" =~ ^[0-9]+$ ]] || [ "$code" -gt 2 ]; then
    echo "reader_memory.sh: lowbit $* ended abnormally: $out" >&2
    : >"$tmp/abnormal"  # this runs in a subshell: leave a mark
    kb=0
  fi
  echo "$kb"
}
: >"$tmp/empty.safetensors"
base_kb=$(peak_kb inspect "$tmp/empty.safetensors")
worst=0
worst_what=
files=0
measure() {  # FILE: inspect and convert it
  local in=$1 size kb need cmd
  size=$(stat -c %s "$in")
  for cmd in inspect convert; do
    if [ $cmd = convert ]; then
      kb=$(peak_kb convert "$in" -o "$tmp/out.safetensors")
      rm -f "$tmp/out.safetensors"
    else
      kb=$(peak_kb inspect "$in")
    fi
    need=$((kb * 1024 - 2 * size))
    if [ $need -gt $worst ]; then
      worst=$need
      worst_what="$2 ($cmd, $size bytes, peak $((kb / 1024)) MiB)"
    fi
  done
  files=$((files + 1))
}
for spec in "$@"; do
  kind=${spec%%:*}
  dir=${spec#*:}
  case "$kind" in
    onnx)
      for d in "$dir"/*/; do
        [ -f "$d/m.onnx" ] || continue
        rm -rf "$tmp/m" && mkdir "$tmp/m" && cp "$d"/* "$tmp/m/"
        measure "$tmp/m/m.onnx" "$d"
      done ;;
    +safetensors)
      for f in "$dir"/*; do
        [ -f "$f" ] || continue
        tail -c +2 "$f" >"$tmp/in.safetensors"
        measure "$tmp/in.safetensors" "$f"
      done ;;
    safetensors|gguf)
      for f in "$dir"/*; do
        [ -f "$f" ] || continue
        cp "$f" "$tmp/in.$kind"
        measure "$tmp/in.$kind" "$f"
      done ;;
    *) echo "reader_memory.sh: unknown kind $kind" >&2; exit 2 ;;
  esac
done
echo "inputs: $files; process baseline (inspect of an empty file): $((base_kb / 1024)) MiB"
echo "largest fixed amount beyond 2x the input: $((worst / 1048576)) MiB: $worst_what"
[ $worst -le $((FIXED_MIB * 1048576)) ] || status=1
[ -e "$tmp/abnormal" ] && status=1
exit $status
