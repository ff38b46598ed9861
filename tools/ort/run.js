#!/usr/bin/env node
// ONNX Runtime (CPU, npm's onnxruntime-node) as a long-lived child of tenor: started once per
// tenor process by export/ort_runner.cpp and spoken to over its stdin and stdout. Serves
// `tenor export` (parity gate), `tenor export verify`, `tenor predict --bundle` and the
// benchmarks. Nothing but protocol frames goes to stdout; diagnostics go to stderr.
//
//   node run.js --serve
//
// Every message, both ways, is one frame: a 4-byte little-endian header length H, an 8-byte
// little-endian payload length P, H bytes of JSON (the header), P bytes of payload (tensor
// data, raw little-endian, each tensor at the offset its header entry gives).
//
// After start the runner sends {"ok": true, "ort_version", "pid"} (or {"ok": false, "error"}
// and exits 1 when onnxruntime-node cannot be loaded). Then, one reply per request, in order:
//   {"op": "load", "model": PATH, "threads": N}  -> {"ok", "session": ID, "inputs", "outputs"}
//   {"op": "run", "session": ID, "inputs": {NAME: {"dtype", "dims", "offset", "size"}},
//    "repeat": N, "warmup": W}                    -> {"ok", "outputs": {NAME: {...}},
//                                                     "latency_ms": [...], "cpu_ms": [...]}
//                                                    + payload
//     With repeat > 0 the inputs are run W + N times and the N timings of session.run are
//     reported: wall time and the process's CPU time (ms); the outputs are the last run's.
//   {"op": "unload", "session": ID}              -> {"ok"}
//   {"op": "quit"}                               -> {"ok"}, then the runner exits 0
// A request that fails is answered {"ok": false, "error": MESSAGE}; the runner goes on.
// End of input (tenor exited) ends the runner.
'use strict';
const path = require('path');

console.log = console.error;  // stdout carries frames only

const kTypes = {float32: Float32Array, int64: BigInt64Array, int32: Int32Array};
const kPrefix = 12;

function frame(header, payload) {
  const head = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(kPrefix);
  prefix.writeUInt32LE(head.length, 0);
  prefix.writeBigUInt64LE(BigInt(payload ? payload.length : 0), 4);
  return payload ? [prefix, head, payload] : [prefix, head];
}

function send(header, payload, then) {
  const parts = frame(header, payload);
  for (let i = 0; i < parts.length; ++i)
    process.stdout.write(parts[i], i + 1 === parts.length ? then : undefined);
}

function tensorOf(ort, name, spec, payload) {
  const Type = kTypes[spec.dtype];
  if (!Type) throw new Error(`input '${name}': unsupported dtype ${spec.dtype}`);
  const count = spec.dims.reduce((a, b) => a * b, 1);
  if (spec.size !== count * Type.BYTES_PER_ELEMENT || spec.offset + spec.size > payload.length)
    throw new Error(`input '${name}': ${spec.size} bytes at ${spec.offset} do not hold ` +
                    `${spec.dtype} ${JSON.stringify(spec.dims)} in a ${payload.length}-byte payload`);
  const data = new Type(count);  // a copy: the payload's offsets need not be aligned
  new Uint8Array(data.buffer).set(payload.subarray(spec.offset, spec.offset + spec.size));
  return new ort.Tensor(spec.dtype, data, spec.dims);
}

class Runner {
  constructor(ort) {
    this.ort = ort;
    this.sessions = new Map();
    this.next = 1;
  }

  async load(req) {
    const session = await this.ort.InferenceSession.create(path.resolve(req.model), {
      executionProviders: ['cpu'],
      intraOpNumThreads: req.threads || 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    const id = this.next++;
    this.sessions.set(id, session);
    return [{ok: true, session: id, inputs: session.inputNames, outputs: session.outputNames}];
  }

  async run(req, payload) {
    const session = this.sessions.get(req.session);
    if (!session) throw new Error(`no session ${req.session} is loaded`);
    const feeds = {};
    for (const [name, spec] of Object.entries(req.inputs))
      feeds[name] = tensorOf(this.ort, name, spec, payload);
    const repeat = req.repeat || 0, warmup = req.warmup || 0, latency = [], cpu = [];
    let results;
    for (let i = 0; i < warmup + Math.max(1, repeat); ++i) {
      const c0 = process.cpuUsage(), t0 = process.hrtime.bigint();
      results = await session.run(feeds);
      if (i < warmup || repeat === 0) continue;
      latency.push(Number(process.hrtime.bigint() - t0) / 1e6);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1e3);
    }
    const outputs = {}, parts = [];
    let offset = 0;
    for (const [name, tensor] of Object.entries(results)) {
      const d = tensor.data;
      parts.push(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
      outputs[name] = {dtype: tensor.type, dims: tensor.dims, offset, size: d.byteLength};
      offset += d.byteLength;
    }
    return [{ok: true, outputs, latency_ms: latency, cpu_ms: cpu}, Buffer.concat(parts)];
  }

  async unload(req) {
    const session = this.sessions.get(req.session);
    this.sessions.delete(req.session);
    if (session && session.release) await session.release();
    return [{ok: true}];
  }

  async handle(req, payload) {
    if (req.op === 'load') return this.load(req);
    if (req.op === 'run') return this.run(req, payload);
    if (req.op === 'unload') return this.unload(req);
    throw new Error(`unknown request '${req.op}'`);
  }
}

/// Splits the byte stream of stdin into frames; calls onFrame(header, payload) in order.
function readFrames(onFrame) {
  let chunks = [], have = 0, need = kPrefix, headLen = -1, payloadLen = 0;
  process.stdin.on('data', (chunk) => {
    chunks.push(chunk);
    have += chunk.length;
    while (have >= need) {
      const buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, have);
      if (headLen < 0) {
        headLen = buf.readUInt32LE(0);
        payloadLen = Number(buf.readBigUInt64LE(4));
        need = kPrefix + headLen + payloadLen;
        chunks = [buf];
        continue;
      }
      const header = JSON.parse(buf.subarray(kPrefix, kPrefix + headLen).toString('utf8'));
      const payload = buf.subarray(kPrefix + headLen, need);
      const rest = buf.subarray(need);
      chunks = rest.length ? [rest] : [];
      have = rest.length;
      headLen = -1;
      need = kPrefix;
      onFrame(header, payload);
    }
  });
  process.stdin.on('end', () => process.exit(0));
}

function main() {
  if (process.argv[2] !== '--serve') {
    process.stderr.write('tools/ort/run.js: usage: node run.js --serve (started by tenor)\n');
    process.exit(2);
  }
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    send({ok: false, error: `onnxruntime-node cannot be loaded (${e.message})`}, null,
         () => process.exit(1));
    return;
  }
  const runner = new Runner(ort);
  let queue = Promise.resolve();
  readFrames((req, payload) => {
    queue = queue.then(async () => {
      if (req.op === 'quit') return send({ok: true}, null, () => process.exit(0));
      let reply;
      try {
        reply = await runner.handle(req, payload);
      } catch (e) {
        reply = [{ok: false, error: String(e && e.message ? e.message : e)}];
      }
      send(reply[0], reply[1]);
    });
  });
  send({ok: true, ort_version: require('onnxruntime-node/package.json').version, pid: process.pid});
}

main();
