#!/usr/bin/env node
// ONNX Runtime as the judge of lowbit's ONNX files: runs two models on the same
// deterministic random inputs and compares every output.
//   node tools/ort/compare_models.js A.onnx B.onnx [--shape NAME=d0,d1,...]...
//        [--seed N] [--runs N] [--tol 1e-5] [--json]
// Dynamic input dimensions need --shape. The relative difference of an output
// is max|a - b| / max|b|; exit 0 when every output of every run is within
// --tol, 1 when not, 2 on usage errors or when a model does not load.
'use strict';
const { requireDep, die } = require('./ocr_rec_eval.js');

function usage(msg) {
  process.stderr.write(
      (msg ? `compare_models: ${msg}\n` : '') +
      'usage: compare_models.js A.onnx B.onnx [--shape NAME=d0,d1,..]... ' +
      '[--seed N] [--runs N] [--tol T] [--json]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const a = {models: [], shapes: {}, seed: 1, runs: 2, tol: 1e-5, json: false};
  for (let i = 0; i < argv.length; ++i) {
    const s = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${s} needs a value`);
      return argv[++i];
    };
    if (s === '--shape') {
      const v = next();
      const eq = v.indexOf('=');
      if (eq < 1) usage(`--shape ${v}: expected NAME=d0,d1,...`);
      const dims = v.slice(eq + 1).split(',').map(Number);
      if (dims.some((d) => !Number.isInteger(d) || d < 1)) usage(`--shape ${v}: bad dimensions`);
      a.shapes[v.slice(0, eq)] = dims;
    } else if (s === '--seed') {
      a.seed = Number(next());
    } else if (s === '--runs') {
      a.runs = Number(next());
    } else if (s === '--tol') {
      a.tol = Number(next());
    } else if (s === '--json') {
      a.json = true;
    } else if (s.startsWith('--')) {
      usage(`unknown option ${s}`);
    } else {
      a.models.push(s);
    }
  }
  if (a.models.length !== 2) usage('two models are needed');
  return a;
}

// xorshift32 -> uniform in [-1, 1)
function rng(seed) {
  let x = (seed >>> 0) || 0x9e3779b9;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return (x / 4294967296) * 2 - 1;
  };
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const ort = requireDep('onnxruntime-node');
  const opts = {intraOpNumThreads: 1, graphOptimizationLevel: 'disabled'};
  const sessions = [];
  for (const m of a.models) {
    try {
      sessions.push(await ort.InferenceSession.create(m, opts));
    } catch (e) {
      process.stderr.write(`compare_models: ONNX Runtime cannot load ${m}: ${e.message}\n`);
      process.exit(2);
    }
  }
  const [sa, sb] = sessions;
  const meta = sa.inputMetadata || {};
  const result = {models: a.models, runs: [], max_rel: 0, ok: true};
  for (let run = 0; run < a.runs; ++run) {
    const next = rng(a.seed + 7919 * run);
    const feeds = {};
    for (const name of sa.inputNames) {
      let dims = a.shapes[name];
      if (!dims) {
        const md = Array.isArray(meta) ? meta.find((m) => m.name === name) : meta[name];
        const shape = md && md.shape;
        if (!shape || shape.some((d) => typeof d !== 'number' || d < 1)) {
          usage(`input ${name} has dynamic dimensions: give --shape ${name}=...`);
        }
        dims = shape;
      }
      const n = dims.reduce((p, d) => p * d, 1);
      const data = new Float32Array(n);
      for (let i = 0; i < n; ++i) data[i] = next();
      feeds[name] = new ort.Tensor('float32', data, dims);
    }
    const [oa, ob] = [await sa.run(feeds), await sb.run(feeds)];
    const outs = {};
    for (const name of sa.outputNames) {
      const x = oa[name].data, y = ob[name] && ob[name].data;
      if (!y || x.length !== y.length) {
        process.stderr.write(`compare_models: output ${name} differs in presence or size\n`);
        process.exit(1);
      }
      let diff = 0, ref = 0;
      for (let i = 0; i < x.length; ++i) {
        diff = Math.max(diff, Math.abs(x[i] - y[i]));
        ref = Math.max(ref, Math.abs(y[i]));
      }
      const rel = ref > 0 ? diff / ref : diff;
      outs[name] = {max_abs_diff: diff, max_abs: ref, rel};
      result.max_rel = Math.max(result.max_rel, rel);
      if (!(rel <= a.tol)) result.ok = false;
    }
    result.runs.push(outs);
  }
  if (a.json) {
    process.stdout.write(JSON.stringify(result) + '\n');
  } else {
    process.stdout.write(`${result.ok ? 'equal' : 'DIFFERENT'}: max relative difference ` +
                         `${result.max_rel.toExponential(3)} (tolerance ${a.tol}) over ` +
                         `${a.runs} runs\n`);
  }
  process.exit(result.ok ? 0 : 1);
}

main().catch((e) => die(e && e.stack ? e.stack : String(e)));
