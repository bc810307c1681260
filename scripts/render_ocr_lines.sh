#!/usr/bin/env bash
# Renders each line of testdata/ocr/phrases.txt to a text-line PNG for the OCR checks:
#   scripts/render_ocr_lines.sh OUTDIR [PHRASES]
# Writes OUTDIR/001.png, 002.png, ... (8-bit grayscale, black on white, ~54 px high),
# OUTDIR/labels.tsv (file<TAB>text), and OUTDIR/page.png + page.txt for the detector (below).
# Latin lines cycle through four DejaVu fonts; lines with CJK characters use WenQuanYi Micro Hei
# (DejaVu has no CJK glyphs). Output is deterministic: the same phrases give byte-identical files (no timestamps in the PNGs).
# Needs ImageMagick and the fonts: bash scripts/setup_npm.sh installs them.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 OUTDIR [PHRASES]" >&2; exit 2; }
OUT=$1
PHRASES=${2:-$ROOT/testdata/ocr/phrases.txt}
CONVERT=/usr/bin/convert   # the real ImageMagick (a stand-in may sit earlier on PATH)
DJ=/usr/share/fonts/truetype/dejavu
FONTS=("$DJ/DejaVuSans.ttf" "$DJ/DejaVuSerif.ttf" "$DJ/DejaVuSansMono.ttf" "$DJ/DejaVuSans-Bold.ttf")
CJK_FONT=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc

[ -x "$CONVERT" ] || { echo "render_ocr_lines: ImageMagick not found at $CONVERT (run scripts/setup_npm.sh)" >&2; exit 1; }
[ -f "$PHRASES" ] || { echo "render_ocr_lines: phrases file not found: $PHRASES" >&2; exit 1; }
for f in "${FONTS[@]}" "$CJK_FONT"; do
  [ -f "$f" ] || { echo "render_ocr_lines: font not found: $f (run scripts/setup_npm.sh)" >&2; exit 1; }
done
mkdir -p "$OUT"

export LC_ALL=C.UTF-8
n=0
: > "$OUT/labels.tsv"
while IFS= read -r text || [ -n "$text" ]; do
  [ -n "$text" ] || continue
  n=$((n + 1))
  file=$(printf '%03d.png' "$n")
  if printf '%s' "$text" | grep -qP '[^\x00-\x7f]'; then
    font=$CJK_FONT
  else
    font=${FONTS[$(((n - 1) % ${#FONTS[@]}))]}
  fi
  # label: reads '%' and '\' as escapes and a leading '@' as a file name: escape them.
  esc=${text//\\/\\\\}
  esc=${esc//%/%%}
  [ "${esc:0:1}" = "@" ] && esc="\\$esc"
  # 32 pt text (~38 px) plus a 4x8 px white border (wider side margins make
  # the recognizer emit spurious leading/trailing spaces); gray 8-bit PNG without date chunks.
  "$CONVERT" -background white -fill black -font "$font" -pointsize 32 "label:$esc" \
    -bordercolor white -border 4x8 -colorspace Gray -depth 8 -strip \
    -define png:exclude-chunks=date,time -define png:color-type=0 -define png:bit-depth=8 \
    "$OUT/$file"
  printf '%s\t%s\n' "$file" "$text" >> "$OUT/labels.tsv"
done < "$PHRASES"
[ "$n" -gt 0 ] || { echo "render_ocr_lines: no phrases in $PHRASES" >&2; exit 1; }

# A page for the detector (tools/ort/ocr_det_eval.js): every 7th line stacked left-aligned with
# 12 px gaps and a 24 px margin; OUTDIR/page.txt lists its lines' texts, one per line.
page=()
: > "$OUT/page.txt"
for ((i = 1; i <= n; i += 7)); do
  page+=("$OUT/$(printf '%03d.png' "$i")")
  sed -n "${i}p" "$OUT/labels.tsv" | cut -f2- >> "$OUT/page.txt"
done
"$CONVERT" "${page[@]}" -background white -gravity North -splice 0x12 -gravity West -append \
  -bordercolor white -border 24 -colorspace Gray -depth 8 -strip \
  -define png:exclude-chunks=date,time -define png:color-type=0 -define png:bit-depth=8 "$OUT/page.png"
echo "render_ocr_lines: $n lines in $OUT" >&2
