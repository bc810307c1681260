#!/usr/bin/env bash
# Driver of tests/python_decode_check.py (registered with ctest as
# python_decode_check): makes a synthetic model with `lowbit synth`, quantizes
# it with several schemes (one file each), converts each to f32 with
# `lowbit convert`, and has the independent numpy decoder check every file.
# Usage: python_decode_check.sh LOWBIT_BINARY SCRATCH_DIR
# Exit status: 0 pass, 1 failure, 77 skipped (no python3 or numpy).
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 LOWBIT_BINARY SCRATCH_DIR" >&2
  exit 2
fi
lowbit=$1
dir=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

python=${PYTHON:-/usr/bin/python3}
if [[ ! -x $python ]]; then
  python=$(command -v python3 || true)
fi
if [[ -z $python ]]; then
  echo "python_decode_check: no python3; skipping"
  exit 77
fi
if ! "$python" -c 'import numpy' 2>/dev/null; then
  echo "python_decode_check: numpy is not installed for $python; skipping"
  exit 77
fi

rm -rf "$dir"
mkdir -p "$dir"
model=$dir/model.safetensors
"$lowbit" synth -o "$model" --seed 7 --layers 2 --dim 64

# name | quantize options
cases=(
  "int4|--scheme int4"
  "int3_asym|--scheme int3 --asymmetric"
  "nf4|--scheme nf4"
  "fp8_e4m3|--scheme fp8_e4m3"
  "mxfp4|--scheme mxfp4"
  "kmeans4|--scheme kmeans4"
  "ternary|--scheme ternary"
  "int8_f32|--scheme int8 --scale-dtype f32"
  "int2_asym_tensor|--scheme int2 --asymmetric --per-tensor"
  "binary|--scheme binary"
  "fp8_e5m2|--scheme fp8_e5m2 --per-tensor"
  "fp4_e2m1|--scheme fp4_e2m1 --group-size 16 --method minmax"
  "kmeans3_tensor|--scheme kmeans3 --per-tensor"
)

failed=()
for c in "${cases[@]}"; do
  name=${c%%|*}
  read -r -a opts <<<"${c#*|}"
  q=$dir/$name.safetensors
  f=$dir/$name.f32.safetensors
  echo "== $name: lowbit quantize ${opts[*]}"
  if ! "$lowbit" quantize "$model" -o "$q" -q "${opts[@]}" ||
    ! "$lowbit" convert "$q" -o "$f" --dtype f32 ||
    ! "$python" "$here/python_decode_check.py" "$q" "$model" "$f"; then
    failed+=("$name")
  fi
done

if ((${#failed[@]})); then
  echo "python_decode_check: FAILED: ${failed[*]}"
  exit 1
fi
echo "python_decode_check: all ${#cases[@]} schemes agree"
