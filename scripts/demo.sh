#!/usr/bin/env bash
# make demo: quantize the default model with several schemes and show size and error.
# Until a real model reader lands, the default model is lowbit's deterministic synthetic
# transformer (`lowbit synth`): f32/f16/bf16 weights with heavy tails and outlier channels.
set -euo pipefail
BUILD=${1:-build}
LOWBIT="$BUILD/lowbit"
OUT=out/demo
mkdir -p "$OUT"
MODEL="$OUT/model.safetensors"
"$LOWBIT" synth -o "$MODEL" --layers 4 --dim 256 2>/dev/null
echo "== the model"
"$LOWBIT" inspect "$MODEL" | tail -n 1
echo
echo "== int4, groups of 32, mse-searched clipping: the per-tensor report"
"$LOWBIT" quantize "$MODEL" -o "$OUT/model.int4.safetensors" --scheme int4 \
  --report "$OUT/model.int4.report.json"
echo
echo "== every scheme family on the same model (bits/weight of quantized tensors, total error)"
printf "%-28s %12s %8s %10s %9s %10s\n" "scheme" "bytes" "ratio" "bpw" "rel_rmse" "cosine"
run() {
  local name=$1; shift
  local f="$OUT/model.$name.safetensors"
  "$LOWBIT" quantize "$MODEL" -o "$f" "$@" --report "$OUT/model.$name.report.json" -q
  # one line from the JSON report: total bytes, ratio, bits per quantized weight, error
  /usr/bin/env python3 - "$OUT/model.$name.report.json" "$name" <<'PY' 2>/dev/null || \
    "$LOWBIT" report "$MODEL" "$f" | tail -n 1
import json, sys
t = json.load(open(sys.argv[1]))["total"]
print(f"{sys.argv[2]:<28} {t['bytes_out']:>12} {t['compression']:>7.2f}x "
      f"{t['bits_per_quantized_weight']:>10.3f} {t['rel_rmse']:>9.4f} {t['cosine']:>10.6f}")
PY
}
run int8-per-tensor --scheme int8 --per-tensor --method minmax
run int8-per-channel --scheme int8 --per-channel
run int4-g32-minmax --scheme int4 --group-size 32 --method minmax
run int4-g32-mse --scheme int4 --group-size 32
run int4-g128-asym --scheme int4 --group-size 128 --asymmetric
run nf4 --scheme nf4
run fp8_e4m3 --scheme fp8_e4m3
run mxfp4 --scheme mxfp4
run kmeans4 --scheme kmeans4
run int3-g32 --scheme int3
run ternary --scheme ternary
run binary --scheme binary
STORIES=../shared/models/stories260K/stories260K-f32.gguf
if [ -f "$STORIES" ]; then
  echo
  echo "== a real llama (stories260K, GGUF) in ggml's block formats (GGUF, for llama.cpp)"
  printf "%-28s %12s %8s %10s %9s %10s\n" "scheme" "bytes" "ratio" "bpw" "rel_rmse" "cosine"
  for s in q8_0 q6_k q4_k iq4_nl; do
    "$LOWBIT" quantize "$STORIES" -o "$OUT/stories260K.$s.gguf" --scheme "$s" \
      --report "$OUT/stories260K.$s.report.json" -q
    /usr/bin/env python3 - "$OUT/stories260K.$s.report.json" "$s" <<'PY' 2>/dev/null || true
import json, sys
t = json.load(open(sys.argv[1]))["total"]
print(f"{sys.argv[2]:<28} {t['bytes_out']:>12} {t['compression']:>7.2f}x "
      f"{t['bits_per_quantized_weight']:>10.3f} {t['rel_rmse']:>9.4f} {t['cosine']:>10.6f}")
PY
  done
  echo "(rows of 64 and 172 values do not fit 256-value k-quant blocks: those tensors fall"
  echo " back to q5_0 / q8_0 / f16, as the JSON reports' notes say)"
else
  echo
  echo "(../shared/models/stories260K is absent: skipping the GGUF part of the demo)"
fi
echo
echo "files and JSON reports are in $OUT/"
