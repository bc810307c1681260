#!/usr/bin/env node
// Runs a PaddleOCR text detector (PP-OCRv4 det, DB, ONNX) through onnxruntime-node on one page
// image and reports the probability map's stats and the text regions found in it.
//
//   node tools/ort/ocr_det_eval.js MODEL.onnx PAGE.png [--expect N] [--json] [--threads N]
//        [--save-prob FILE] [--ref-prob FILE] [--exact]
//
// Preprocessing is PaddleOCR's det one: channels in BGR order (as cv2 reads them), bilinear
// resize so the longer side is at most 960 and both sides are multiples of 32
// (DetResizeForTest, limit_type max), then (x/255 - mean)/std with ImageNet mean/std
// (0.485,0.456,0.406)/(0.229,0.224,0.225) in that channel order, NCHW float32.
// Regions: 8-connected components of prob > 0.3 (DB's thresh) whose mean prob is >= 0.6
// (box_thresh) and whose box's short side is >= 3 px (min_size); boxes are reported in the
// page's pixels. Without --expect, the expected count is the number of lines in PAGE.txt
// (scripts/render_ocr_lines.sh writes page.png + page.txt) when that file exists.
// Exit status 0 also when the count differs: the report says so (field "count_ok").
'use strict';
const fs = require('fs');
const path = require('path');
const { readImage, requireDep, die } = require('./ocr_rec_eval.js');

const MEAN = [0.485, 0.456, 0.406], STD = [0.229, 0.224, 0.225];
const LIMIT = 960, THRESH = 0.3, BOX_THRESH = 0.6, MIN_SIZE = 3;

function parseArgs(argv) {
  const o = { json: false, threads: 0, expect: null, pos: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) die(`${a} needs a value`, 2); return argv[++i]; };
    if (a === '--json') o.json = true;
    else if (a === '--threads') o.threads = parseInt(val(), 10);
    else if (a === '--expect') o.expect = parseInt(val(), 10);
    else if (a === '--save-prob') o.saveProb = val();
    else if (a === '--exact') o.exact = true;
    else if (a === '--ref-prob') o.refProb = val();
    else if (a.startsWith('-')) die(`unknown option ${a}`, 2);
    else o.pos.push(a);
  }
  if (o.pos.length !== 2) die('usage: ocr_det_eval.js MODEL.onnx PAGE.png [--expect N] [--json] [--threads N] [--save-prob F] [--ref-prob F] [--exact]', 2);
  if (!(o.threads >= 0) || (o.expect !== null && !(o.expect >= 0))) die('--threads and --expect take numbers >= 0', 2);
  return o;
}

// PaddleOCR DetResizeForTest (limit_type 'max'): returns the network's input size.
function detSize(w, h) {
  const ratio = Math.max(w, h) > LIMIT ? LIMIT / Math.max(w, h) : 1;
  const r32 = (v) => Math.max(Math.round((v * ratio) / 32) * 32, 32);
  return { W: r32(w), H: r32(h) };
}

// Bilinear resize (cv2 INTER_LINEAR, half-pixel centres) + ImageNet normalization, BGR planes.
function preprocess(img, W, H) {
  const out = new Float32Array(3 * H * W);
  const sx = img.w / W, sy = img.h / H, c = img.c, src = img.data;
  for (let y = 0; y < H; y++) {
    const fy = Math.max((y + 0.5) * sy - 0.5, 0), y0 = Math.min(Math.floor(fy), img.h - 1);
    const y1 = Math.min(y0 + 1, img.h - 1), wy = Math.min(fy - y0, 1);
    for (let x = 0; x < W; x++) {
      const fx = Math.max((x + 0.5) * sx - 0.5, 0), x0 = Math.min(Math.floor(fx), img.w - 1);
      const x1 = Math.min(x0 + 1, img.w - 1), wx = Math.min(fx - x0, 1);
      for (let k = 0; k < 3; k++) {
        const ch = c === 1 ? 0 : 2 - k; // plane k is B, G, R
        const p = (yy, xx) => src[(yy * img.w + xx) * c + ch];
        const v = (p(y0, x0) * (1 - wx) + p(y0, x1) * wx) * (1 - wy) + (p(y1, x0) * (1 - wx) + p(y1, x1) * wx) * wy;
        out[k * H * W + y * W + x] = (v / 255 - MEAN[k]) / STD[k];
      }
    }
  }
  return out;
}

// 8-connected components of prob > THRESH: [{x0,y0,x1,y1,area,score}] in map pixels.
function components(prob, W, H) {
  const label = new Int32Array(W * H).fill(-1), comps = [], stack = [];
  for (let s = 0; s < W * H; s++) {
    if (label[s] !== -1 || prob[s] <= THRESH) continue;
    const id = comps.length, c = { x0: W, y0: H, x1: -1, y1: -1, area: 0, sum: 0 };
    label[s] = id; stack.push(s);
    while (stack.length) {
      const q = stack.pop(), x = q % W, y = (q - x) / W;
      c.area++; c.sum += prob[q];
      c.x0 = Math.min(c.x0, x); c.x1 = Math.max(c.x1, x); c.y0 = Math.min(c.y0, y); c.y1 = Math.max(c.y1, y);
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const nx = x + dx, ny = y + dy, n = ny * W + nx;
        if (nx >= 0 && nx < W && ny >= 0 && ny < H && label[n] === -1 && prob[n] > THRESH) { label[n] = id; stack.push(n); }
      }
    }
    c.score = c.sum / c.area;
    comps.push(c);
  }
  return comps;
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  const [model, page] = opt.pos;
  if (!fs.existsSync(model)) die(`model not found: ${model}`);
  if (!fs.existsSync(page)) die(`image not found: ${page}`);
  let expect = opt.expect;
  const txt = page.replace(/\.[^./]+$/, '') + '.txt';
  if (expect === null && fs.existsSync(txt)) expect = fs.readFileSync(txt, 'utf8').split('\n').filter((l) => l.trim()).length;

  const img = readImage(page);
  const { W, H } = detSize(img.w, img.h);
  const ort = requireDep('onnxruntime-node');
  const so = opt.threads ? { intraOpNumThreads: opt.threads, interOpNumThreads: 1 } : {};
  // --exact: no graph optimizations, so that two files holding the same weights in
  // different forms run the same kernels (the judge's setting).
  if (opt.exact) so.graphOptimizationLevel = 'disabled';
  let session;
  try { session = await ort.InferenceSession.create(model, so); } catch (e) { die(`cannot load model ${model}: ${e.message}`); }
  const inName = session.inputNames[0], outName = session.outputNames[0];
  const input = new ort.Tensor('float32', preprocess(img, W, H), [1, 3, H, W]);

  const t0 = process.hrtime.bigint();
  const out = (await session.run({ [inName]: input }))[outName];
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (out.type !== 'float32' || out.dims.length !== 4) die(`expected a float32 [N,1,H,W] output, got ${out.type} [${out.dims}]`);
  const [, , oh, ow] = out.dims, prob = out.data;

  let mn = Infinity, mx = -Infinity, sum = 0, above = 0;
  for (let i = 0; i < prob.length; i++) {
    const v = prob[i]; if (v < mn) mn = v; if (v > mx) mx = v; sum += v; if (v > THRESH) above++;
  }
  // --save-prob: the map as raw float32; --ref-prob: cosine similarity to such
  // a saved map (the fp32 model's), the quantized model's fidelity.
  if (opt.saveProb) fs.writeFileSync(opt.saveProb, Buffer.from(prob.buffer, prob.byteOffset, prob.byteLength));
  let cosine = null, relDiff = null;
  if (opt.refProb) {
    const b = fs.readFileSync(opt.refProb);
    const ref = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    if (ref.length !== prob.length) die(`--ref-prob ${opt.refProb}: ${ref.length} values, the map has ${prob.length}`);
    let dot = 0, na = 0, nb = 0, diff = 0, top = 0;
    for (let i = 0; i < prob.length; i++) {
      dot += prob[i] * ref[i]; na += prob[i] * prob[i]; nb += ref[i] * ref[i];
      diff = Math.max(diff, Math.abs(prob[i] - ref[i])); top = Math.max(top, Math.abs(ref[i]));
    }
    cosine = na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : (na === nb ? 1 : 0);
    relDiff = top > 0 ? diff / top : diff;
  }
  const comps = components(prob, ow, oh);
  const sx = img.w / ow, sy = img.h / oh; // map pixels -> page pixels
  const regions = comps
    .filter((c) => c.score >= BOX_THRESH && Math.min(c.x1 - c.x0 + 1, c.y1 - c.y0 + 1) >= MIN_SIZE)
    .map((c) => ({ x: Math.round(c.x0 * sx), y: Math.round(c.y0 * sy), w: Math.round((c.x1 - c.x0 + 1) * sx),
                   h: Math.round((c.y1 - c.y0 + 1) * sy), area: c.area, score: +c.score.toFixed(4) }))
    .sort((a, b) => a.y - b.y || a.x - b.x);
  const res = {
    model: path.resolve(model), image: path.resolve(page), image_size: [img.w, img.h], input_size: [W, H],
    input: { name: inName, dims: [1, 3, H, W] }, output: { name: outName, dims: out.dims },
    prob: { min: mn, max: mx, mean: sum / prob.length, frac_above_thresh: above / prob.length },
    components: comps.length, regions: regions.length, expected: expect, cosine_vs_ref: cosine, max_rel_diff_vs_ref: relDiff,
    count_ok: expect === null ? null : regions.length === expect, ms, boxes: regions,
  };
  if (opt.json) { console.log(JSON.stringify(res)); return; }
  console.log(`image ${img.w}x${img.h} -> input ${inName} [1,3,${H},${W}], output ${outName} [${out.dims}], ${ms.toFixed(1)} ms`);
  console.log(`prob min ${mn.toFixed(4)} max ${mx.toFixed(4)} mean ${res.prob.mean.toFixed(4)}, ` +
              `${(100 * res.prob.frac_above_thresh).toFixed(2)}% > ${THRESH}`);
  for (const r of regions) console.log(`  region x=${r.x} y=${r.y} w=${r.w} h=${r.h} score=${r.score}`);
  console.log(`components ${comps.length}, regions ${regions.length}` +
              (expect === null ? '' : ` (expected ${expect}: ${res.count_ok ? 'ok' : 'MISMATCH'})`));
}

main().catch((e) => die(e && e.stack ? e.stack : String(e)));
