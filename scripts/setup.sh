#!/usr/bin/env bash
# Installs what lowbit needs to build and test, from Debian's packages by name.
# Root with apt-get: installs what is missing. Otherwise: names the packages and stops.
set -euo pipefail
PKGS=(cmake ninja-build g++ clang libclang-rt-14-dev llvm time pkg-config libhwy-dev libgtest-dev libgmock-dev libbenchmark-dev
      nlohmann-json3-dev libcli11-dev libfmt-dev zlib1g-dev libopenblas-dev libdnnl-dev
      libprotobuf-dev libonnx-dev libpng-dev python3-numpy python3-onnx dataset-fashion-mnist)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "lowbit: missing Debian packages: ${missing[*]}" >&2
  echo "lowbit: install them as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "lowbit: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
