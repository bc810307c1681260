#!/usr/bin/env bash
# The Fashion-MNIST points of issue 15, reproduced with the commands' defaults:
#   scripts/fmnist_bench.sh [BUILD_DIR] [OUT_DIR] [SEEDS]
# 1. `lowbit train --epochs 5` (SGD momentum 0.9, lr 0.03 cosine, batch 64, two threads);
# 2. post-training quantization of that model, per channel, symmetric:
#    `quantize --method minmax|mse|gptq|adaround` at int4, int3, int2 and ternary
#    (adaround: integer schemes only); gptq and adaround calibrated on the first 256
#    training images (.npy, written here with numpy);
# 3. `lowbit qat` with its defaults (2 epochs, LSQ, Adam 1e-3) at int4, int3 and
#    ternary, seeds 1..SEEDS (default 3).
# Every written file is scored on the 10,000 test images by `lowbit eval` and by ONNX
# Runtime (tools/ort/fmnist_eval.js); the script fails if the two differ. Prints a
# markdown table. Takes about 15 minutes on two cores.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
OUT=${2:-$ROOT/out/fmnist_bench}
SEEDS=${3:-3}
LOWBIT=$BUILD/lowbit
DATA=/usr/share/datasets/fashion-mnist
[ -x "$LOWBIT" ] || { echo "fmnist_bench: $LOWBIT not built" >&2; exit 1; }
[ -f "$DATA/train-images-idx3-ubyte.gz" ] ||
  { echo "fmnist_bench: $DATA missing (apt-get install dataset-fashion-mnist)" >&2; exit 1; }
mkdir -p "$OUT/calib"
export NODE_PATH=$ROOT/node_deps/node_modules
acc() { "$LOWBIT" eval "$1" --task fashion-mnist --json |
  /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['accuracy'])"; }
ort() { node "$ROOT/tools/ort/fmnist_eval.js" "$1" --json |
  /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['accuracy'])"; }
row() {  # label, file: "| label | lowbit | ORT |", failing when they differ
  local a o
  a=$(acc "$2")
  o=$(ort "$2")
  /usr/bin/python3 - "$1" "$a" "$o" <<'PY'
import sys
label, a, o = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
print(f"| {label} | {100 * a:.2f}% | {100 * o:.2f}% |")
if abs(a - o) > 1.5e-4:
    sys.exit(f"fmnist_bench: {label}: lowbit {a} and ONNX Runtime {o} differ")
PY
}
echo "fmnist_bench: training the fp32 model (5 epochs)" >&2
"$LOWBIT" train --epochs 5 --threads 2 -q --checkpoint none -o "$OUT/fp32.onnx"
/usr/bin/python3 - "$DATA/train-images-idx3-ubyte.gz" "$OUT/calib" <<'PY'
import gzip, sys, numpy as np
raw = gzip.open(sys.argv[1]).read()
x = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 1, 1, 28, 28)
for i in range(256):
    np.save(f"{sys.argv[2]}/img{i:03d}.npy", (x[i] / 255.0).astype(np.float32))
PY
echo "| model | lowbit eval | ONNX Runtime |"
echo "|---|---:|---:|"
row "fp32, 5 epochs" "$OUT/fp32.onnx"
for s in int4 int3 int2 ternary; do
  for m in minmax mse gptq adaround; do
    [ "$s" = ternary ] && [ "$m" = adaround ] && continue
    calib=()
    case $m in gptq | adaround) calib=(--calib "$OUT/calib") ;; esac
    "$LOWBIT" quantize "$OUT/fp32.onnx" --scheme "$s" --per-channel --symmetric \
      --method "$m" "${calib[@]}" --threads 2 -q -o "$OUT/$s.$m.onnx"
    row "$s post-training $m" "$OUT/$s.$m.onnx"
  done
done
for s in int4 int3 ternary; do
  for seed in $(seq 1 "$SEEDS"); do
    echo "fmnist_bench: qat $s seed $seed" >&2
    "$LOWBIT" qat "$OUT/fp32.onnx" --scheme "$s" --seed "$seed" --threads 2 -q \
      --checkpoint none -o "$OUT/$s.qat$seed.onnx"
    row "$s QAT (2 epochs LSQ, Adam 1e-3), seed $seed" "$OUT/$s.qat$seed.onnx"
  done
done
