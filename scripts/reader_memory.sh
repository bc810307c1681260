#!/usr/bin/env bash
# Peak resident memory of `lowbit inspect` and `lowbit convert` on every file of
# the given folders (fuzz corpora: what the fuzzers produced), against the bound
# the readers promise: twice the file's size plus a fixed amount. Prints the
# worst cases and the largest fixed amount any file needed; exits 1 when one
# needs more than FIXED_MIB (default 96).
#   usage: scripts/reader_memory.sh LOWBIT_BINARY EXT:DIR... (EXT: safetensors, gguf,
#          onnx; a '+' before EXT strips the first byte of each file, as
#          quantize_fuzz's inputs carry a selector byte)
set -uo pipefail
BIN=${1:?usage: reader_memory.sh LOWBIT EXT:DIR...}
shift
FIXED_MIB=${FIXED_MIB:-96}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The process's own footprint: inspect on an empty file.
: >"$tmp/empty.safetensors"
base_kb=$(/usr/bin/time -f %M "$BIN" inspect "$tmp/empty.safetensors" 2>&1 >/dev/null | tail -1)
worst=0
worst_file=
files=0
for spec in "$@"; do
  ext=${spec%%:*}
  dir=${spec#*:}
  strip=0
  if [ "${ext:0:1}" = "+" ]; then strip=1; ext=${ext:1}; fi
  for f in "$dir"/*; do
    [ -f "$f" ] || continue
    in="$f"
    if [ $strip -eq 1 ] || [ "${f##*.}" != "$ext" ]; then
      in="$tmp/in.$ext"
      if [ $strip -eq 1 ]; then tail -c +2 "$f" >"$in"; else cp "$f" "$in"; fi
      [ "$ext" = onnx ] && [ -f "$dir/w.bin" ] && cp "$dir/w.bin" "$tmp/w.bin"
    fi
    size=$(stat -c %s "$in")
    for cmd in inspect convert; do
      if [ $cmd = convert ]; then args=(convert "$in" -o "$tmp/out.safetensors"); else args=(inspect "$in"); fi
      kb=$(/usr/bin/time -f %M "$BIN" "${args[@]}" 2>&1 >/dev/null </dev/null | tail -1)
      rm -f "$tmp/out.safetensors"
      # The fixed amount this run needed beyond twice the file.
      need=$(( kb * 1024 - 2 * size ))
      if [ $need -gt $worst ]; then worst=$need; worst_file="$f ($cmd, $size bytes, peak $((kb / 1024)) MiB)"; fi
    done
    files=$((files + 1))
  done
done
echo "files: $files; process baseline (inspect of an empty file): $((base_kb / 1024)) MiB"
echo "largest fixed amount beyond 2x the file: $((worst / 1048576)) MiB: $worst_file"
[ $worst -le $((FIXED_MIB * 1048576)) ]
