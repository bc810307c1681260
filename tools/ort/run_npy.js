#!/usr/bin/env node
// ONNX Runtime on .npy inputs, writing every output as <name>.npy: the outside
// judge of `lowbit run` (same inputs, same file names) and its speed reference.
//   node tools/ort/run_npy.js MODEL.onnx --input NAME=FILE.npy ... --output-dir DIR
//        [--threads N] [--repeat N] [--opt all|disabled] [--json]
// --json prints {"run_seconds": [...], "median_run_seconds": m,
// "max_rss_bytes": peak resident memory of the process} (session creation
// excluded from the times). --no-write skips writing the outputs. Exit 2 on usage errors or when the model does not load.
'use strict';
const fs = require('fs');
const path = require('path');
const { requireDep, die } = require('./ocr_rec_eval.js');

const kTypes = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array],
  '<i8': ['int64', BigInt64Array], '<i4': ['int32', Int32Array],
  '|u1': ['uint8', Uint8Array], '|i1': ['int8', Int8Array], '|b1': ['bool', Uint8Array],
};

function readNpy(file) {
  const b = fs.readFileSync(file);
  if (b.slice(0, 6).toString('latin1') !== '\x93NUMPY') die(`${file}: not a .npy file`, 2);
  const major = b[6];
  const hl = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const h = b.slice(start, start + hl).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(h)[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(h)[1].split(',').map((s) => s.trim())
      .filter((s) => s.length).map(Number);
  const t = kTypes[descr];
  if (!t) die(`${file}: dtype ${descr} is not supported`, 2);
  const data = b.slice(start + hl);
  const copy = new Uint8Array(data.length);
  copy.set(data);
  return { type: t[0], data: new t[1](copy.buffer), shape };
}

function writeNpy(file, tensor) {
  let descr = null;
  for (const [d, [name]] of Object.entries(kTypes)) if (name === tensor.type) descr = d;
  if (!descr) die(`output type ${tensor.type} cannot be written`, 2);
  const dims = tensor.dims.map(Number);
  const shape = '(' + dims.join(', ') + (dims.length === 1 ? ',' : '') + ')';
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = Math.ceil((10 + h.length + 1) / 64) * 64;
  h = h + ' '.repeat(total - 10 - h.length - 1) + '\n';
  const head = Buffer.alloc(10);
  Buffer.from('\x93NUMPY', 'latin1').copy(head, 0);
  head[6] = 1; head[7] = 0; head.writeUInt16LE(h.length, 8);
  const d = tensor.data;
  const body = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(h, 'latin1'), body]));
}

async function main() {
  const argv = process.argv.slice(2);
  const o = { model: null, inputs: {}, out: '.', threads: 1, repeat: 1, opt: 'all', json: false };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) die(`${a} needs a value`, 2); return argv[++i]; };
    if (a === '--input') {
      const v = val(); const eq = v.indexOf('=');
      if (eq < 1) die(`--input ${v}: expected NAME=FILE.npy`, 2);
      o.inputs[v.slice(0, eq)] = v.slice(eq + 1);
    } else if (a === '--output-dir') o.out = val();
    else if (a === '--threads') o.threads = Number(val());
    else if (a === '--repeat') o.repeat = Number(val());
    else if (a === '--opt') o.opt = val();
    else if (a === '--json') o.json = true;
    else if (a === '--no-write') o.noWrite = true;
    else if (!o.model) o.model = a;
    else die(`unexpected argument ${a}`, 2);
  }
  if (!o.model) die('usage: run_npy.js MODEL.onnx --input NAME=FILE.npy ... [--output-dir DIR]', 2);
  const ort = requireDep('onnxruntime-node');
  let session;
  try {
    session = await ort.InferenceSession.create(o.model, {
      intraOpNumThreads: o.threads, interOpNumThreads: 1,
      graphOptimizationLevel: o.opt === 'disabled' ? 'disabled' : 'all',
    });
  } catch (e) { die(`${o.model}: ${e.message}`, 2); }
  const feeds = {};
  for (const [name, file] of Object.entries(o.inputs)) {
    const t = readNpy(file);
    feeds[name] = new ort.Tensor(t.type, t.data, t.shape);
  }
  const times = [];
  let out = null;
  for (let r = 0; r < Math.max(1, o.repeat); ++r) {
    const t0 = process.hrtime.bigint();
    out = await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  if (!o.noWrite) fs.mkdirSync(o.out, { recursive: true });
  for (const name of o.noWrite ? [] : session.outputNames) {
    writeNpy(path.join(o.out, name.replace(/[^A-Za-z0-9_.-]/g, '_') + '.npy'), out[name]);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  if (o.json) {
    process.stdout.write(JSON.stringify({
      run_seconds: times, median_run_seconds: median,
      max_rss_bytes: process.resourceUsage().maxRSS * 1024,
    }) + '\n');
  }
}

main().catch((e) => die(e.stack || String(e), 1));
