#!/usr/bin/env bash
# One training epoch of the Fashion-MNIST CNN (issue 15): `lowbit train` against the
# same net, data, batch and optimiser in LibTorch 1.13 (Debian's libtorch-dev,
# bench/libtorch/fmnist_epoch.cc), interleaved in the same run:
#   scripts/epoch_speed_bench.sh [BUILD_DIR] [ROUNDS]
# Each round runs lowbit, then LibTorch, each one epoch (60k images, batch 64, SGD
# momentum 0.9, lr 0.05 cosine, 2 threads) and the test-set evaluation. Reports the epoch
# time each prints and the whole command's wall time, per round and their medians with
# the spread, and the ratio lowbit / LibTorch per round. As root installs libtorch-dev
# when it is missing. LibTorch runs with OPENBLAS_NUM_THREADS=1, its fastest setting here
# (Debian's build links OpenBLAS's pthread build beside its OpenMP pool; left at its
# default it oversubscribes the two cores and an epoch takes 38 s instead of 23 s).
# Debian's LibTorch is built without MKL; the issue's 13.6 s figure is another build.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
ROUNDS=${2:-5}
LOWBIT=$BUILD/lowbit
[ -x "$LOWBIT" ] || { echo "epoch_speed_bench: $LOWBIT not built" >&2; exit 1; }
if ! dpkg-query -W -f='${Status}' libtorch-dev 2>/dev/null | grep -q "install ok installed"; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "epoch_speed_bench: needs Debian's libtorch-dev (apt-get install libtorch-dev)" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libtorch-dev >/dev/null
fi
REF=$BUILD/fmnist_epoch_libtorch
SRC=$ROOT/bench/libtorch/fmnist_epoch.cc
if [ ! -x "$REF" ] || [ "$SRC" -nt "$REF" ]; then
  echo "epoch_speed_bench: building $REF" >&2
  g++ -std=c++17 -O2 -DNDEBUG "$SRC" -o "$REF" -I/usr/include/torch/csrc/api/include \
    -ltorch -ltorch_cpu -lc10 -lz -Wl,--no-as-needed
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
now() { date +%s.%N; }
for r in $(seq 1 "$ROUNDS"); do
  t0=$(now)
  "$LOWBIT" train --epochs 1 --lr 0.05 --threads 2 --json -q -o "$TMP/m.onnx" --checkpoint none >"$TMP/l$r.json"
  t1=$(now)
  OPENBLAS_NUM_THREADS=1 "$REF" --epochs 1 --threads 2 >"$TMP/t$r.json"
  t2=$(now)
  echo "$t0 $t1 $t2" >"$TMP/w$r"
  echo "epoch_speed_bench: round $r of $ROUNDS done" >&2
done
python3 - "$TMP" "$ROUNDS" <<'EOF'
import json, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
rows = []
for r in range(1, n + 1):
    l = json.load(open(f"{d}/l{r}.json"))
    t = json.load(open(f"{d}/t{r}.json"))
    t0, t1, t2 = map(float, open(f"{d}/w{r}").read().split())
    rows.append(dict(le=l["epochs"][0]["seconds"], te=t["epochs"][0]["seconds"],
                     lw=t1 - t0, tw=t2 - t1, la=l.get("test_accuracy"),
                     ta=t["test_accuracy"], ref=t["reference"]))
print(f"reference: {rows[0]['ref']}; {n} rounds, lowbit then LibTorch in each")
print("| round | lowbit epoch s | LibTorch epoch s | ratio | lowbit command s | LibTorch command s | ratio |")
print("|---:|---:|---:|---:|---:|---:|---:|")
for i, x in enumerate(rows, 1):
    print(f"| {i} | {x['le']:.2f} | {x['te']:.2f} | {x['le']/x['te']:.3f} | "
          f"{x['lw']:.2f} | {x['tw']:.2f} | {x['lw']/x['tw']:.3f} |")
def med(k):
    v = [x[k] for x in rows]
    return f"{statistics.median(v):.3f} ({min(v):.3f} .. {max(v):.3f})"
for x in rows:
    x["re"], x["rw"] = x["le"] / x["te"], x["lw"] / x["tw"]
print(f"median epoch: lowbit {med('le')} s, LibTorch {med('te')} s, ratio {med('re')}")
print(f"median command: lowbit {med('lw')} s, LibTorch {med('tw')} s, ratio {med('rw')}")
print(f"test accuracy after the epoch: lowbit {rows[0]['la']}, LibTorch {rows[0]['ta']}")
EOF
