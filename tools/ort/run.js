#!/usr/bin/env node
// Runs an ONNX model in ONNX Runtime (CPU) on cases described by a JSON file and writes
// the outputs as raw little-endian files. Used by `tenor export` (parity gate),
// `tenor export verify`, `tenor predict --bundle` and bench/export_bench.
//
//   node run.js --model model.onnx --cases cases.json --out DIR [--threads 1]
//               [--repeat N --warmup W]
//
// cases.json: {"cases": [{"name": "dev-0", "inputs": {"frames": {"dtype": "float32",
//   "dims": [B, T, F], "file": "dev-0.frames.bin"}, ...}}]}; files are relative to the
// directory of cases.json. Writes DIR/<case>.<output>.bin (float32 or int64, little-endian)
// and DIR/outputs.json: {"cases": [{"name", "outputs": {name: {"dtype", "dims", "file"}},
// "latency_ms": [...]}], "ort_version"}. With --repeat, each case is run W + N times and
// the N timings of session.run are reported (milliseconds).
'use strict';
const fs = require('fs');
const path = require('path');

function fail(message) {
  process.stderr.write(`tools/ort/run.js: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = {threads: 1, repeat: 0, warmup: 0};
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (i + 1 >= argv.length) fail(`missing value for --${key}`);
    args[key] = argv[i + 1];
  }
  for (const k of ['model', 'cases', 'out']) if (!args[k]) fail(`--${k} is required`);
  args.threads = Number(args.threads);
  args.repeat = Number(args.repeat);
  args.warmup = Number(args.warmup);
  return args;
}

const kTypes = {
  float32: Float32Array,
  int64: BigInt64Array,
  int32: Int32Array,
};

function readTensor(ort, dir, spec) {
  const Type = kTypes[spec.dtype];
  if (!Type) fail(`unsupported dtype ${spec.dtype}`);
  const bytes = fs.readFileSync(path.join(dir, spec.file));
  const count = spec.dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== count * Type.BYTES_PER_ELEMENT)
    fail(`${spec.file}: ${bytes.length} bytes, expected ${count * Type.BYTES_PER_ELEMENT} for ` +
         `${spec.dtype} ${JSON.stringify(spec.dims)}`);
  const data = new Type(count);
  Buffer.from(data.buffer).set(bytes);
  return new ort.Tensor(spec.dtype, data, spec.dims);
}

async function main() {
  const args = parseArgs(process.argv);
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    fail(`onnxruntime-node is not installed (${e.message}); ` +
         'run `npm --prefix tools/ort install --ignore-scripts`');
  }
  const session = await ort.InferenceSession.create(args.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const spec = JSON.parse(fs.readFileSync(args.cases, 'utf8'));
  const dir = path.dirname(args.cases);
  fs.mkdirSync(args.out, {recursive: true});
  const report = {cases: [], ort_version: require('onnxruntime-node/package.json').version};
  for (const c of spec.cases) {
    const feeds = {};
    for (const [name, t] of Object.entries(c.inputs)) feeds[name] = readTensor(ort, dir, t);
    let results;
    const latency = [];
    for (let i = 0; i < args.warmup + Math.max(1, args.repeat); ++i) {
      const t0 = process.hrtime.bigint();
      results = await session.run(feeds);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (i >= args.warmup) latency.push(ms);
    }
    const outputs = {};
    for (const [name, tensor] of Object.entries(results)) {
      const file = `${c.name}.${name}.bin`;
      const data = tensor.data;
      fs.writeFileSync(path.join(args.out, file),
                       Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      outputs[name] = {dtype: tensor.type, dims: tensor.dims, file};
    }
    report.cases.push({name: c.name, outputs, latency_ms: args.repeat > 0 ? latency : []});
  }
  fs.writeFileSync(path.join(args.out, 'outputs.json'), JSON.stringify(report));
}

main().catch((e) => fail(e.stack || String(e)));
