#!/usr/bin/env node
// ONNX Runtime's top-1 accuracy of a Fashion-MNIST classifier on the 10,000
// test images of Debian's dataset-fashion-mnist: the outside judge of
// `lowbit eval --task fashion-mnist` and of the files `lowbit train` writes.
//   node tools/ort/fmnist_eval.js MODEL.onnx [--data-dir DIR] [--batch N]
//       [--images N] [--json]
// --images N: the first N test images only (as lowbit's --test-images).
// The model's single input takes [N, 1, 28, 28] of pixel / 255; its first
// output is [N, 10] logits. Exit 2 on usage errors or unreadable files.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { requireDep, die } = require('./ocr_rec_eval.js');

function readIdx(file) {
  let b;
  try {
    b = fs.readFileSync(file);
  } catch (e) {
    die(`${file}: cannot read (apt-get install dataset-fashion-mnist)`, 2);
  }
  if (b[0] === 0x1f && b[1] === 0x8b) b = zlib.gunzipSync(b);
  if (b[0] !== 0 || b[1] !== 0 || b[2] !== 8) die(`${file}: not an IDX file of bytes`, 2);
  const rank = b[3];
  const dims = [];
  for (let d = 0; d < rank; d++) dims.push(b.readUInt32BE(4 + 4 * d));
  const data = b.subarray(4 + 4 * rank);
  if (data.length !== dims.reduce((a, x) => a * x, 1)) die(`${file}: size differs from its dimensions`, 2);
  return { dims, data };
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length < 1 || args[0].startsWith('--')) {
    die('usage: fmnist_eval.js MODEL.onnx [--data-dir DIR] [--batch N] [--images N] [--json]', 2);
  }
  const model = args[0];
  let dir = '/usr/share/datasets/fashion-mnist', batch = 500, json = false, first = 0;
  for (let i = 1; i < args.length; i++) {
    if (args[i] === '--data-dir') dir = args[++i];
    else if (args[i] === '--batch') batch = Number(args[++i]);
    else if (args[i] === '--images') first = Number(args[++i]);
    else if (args[i] === '--json') json = true;
    else die(`unknown option ${args[i]}`, 2);
  }
  const images = readIdx(path.join(dir, 't10k-images-idx3-ubyte.gz'));
  const labels = readIdx(path.join(dir, 't10k-labels-idx1-ubyte.gz'));
  if (!Number.isInteger(first) || first < 0 || first > images.dims[0]) {
    die(`--images: expected 0 (all) to ${images.dims[0]}`, 2);
  }
  const n = first > 0 ? first : images.dims[0];
  const ort = requireDep('onnxruntime-node');
  let session;
  try {
    session = await ort.InferenceSession.create(model);
  } catch (e) {
    die(`${model}: ONNX Runtime cannot load it: ${e.message}`, 2);
  }
  const input = session.inputNames[0], output = session.outputNames[0];
  let correct = 0;
  const t0 = process.hrtime.bigint();
  for (let b0 = 0; b0 < n; b0 += batch) {
    const b1 = Math.min(n, b0 + batch);
    const x = new Float32Array((b1 - b0) * 784);
    for (let i = 0; i < x.length; i++) x[i] = images.data[b0 * 784 + i] / 255;
    const out = await session.run({ [input]: new ort.Tensor('float32', x, [b1 - b0, 1, 28, 28]) });
    const z = out[output].data, c = out[output].dims[1];
    for (let i = 0; i < b1 - b0; i++) {
      let best = 0;
      for (let j = 1; j < c; j++) if (z[i * c + j] > z[i * c + best]) best = j;
      if (best === labels.data[b0 + i]) correct++;
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const acc = correct / n;
  if (json) {
    console.log(JSON.stringify({ model, images: n, accuracy: acc, seconds }));
  } else {
    console.log(`${model}: top-1 accuracy ${(100 * acc).toFixed(2)}% on ${n} images (ONNX Runtime, ${seconds.toFixed(2)} s)`);
  }
}

main();
