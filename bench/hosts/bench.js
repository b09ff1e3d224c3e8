'use strict';
// The Node line of bench/host_bench.py. Usage: node bench.js TOKENIZER TEXT REPEAT
const fs = require('node:fs');
const path = require('node:path');
const bpekit = require(path.join(__dirname, '..', '..', 'bindings', 'node'));

const [file, textFile, repeatArg] = process.argv.slice(2);
const tok = bpekit.Tokenizer.load(file);
const text = fs.readFileSync(textFile, 'utf8');
const bytes = Buffer.byteLength(text);
const repeat = Number(repeatArg);
const median = (v) => v.slice().sort((a, b) => a - b)[v.length >> 1];
// Text as a string (converted to UTF-8 on each call) and as the file's bytes.
function run(input) {
  const times = [];
  let n = 0;
  for (let r = -1; r < repeat; r++) {
    const t0 = process.hrtime.bigint();
    n = tok.encodeOrdinary(input).length;
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r >= 0) times.push(dt);
  }
  return [median(times), n];
}
const [time, n] = run(text);
const [bufferTime] = run(fs.readFileSync(textFile));
const lat = [];
for (let r = 0; r < 5; r++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 20000; i++) tok.encodeOrdinary('hello world');
  lat.push(Number(process.hrtime.bigint() - t0) / 20000);
}
console.log(JSON.stringify({ host: 'node', mb_s: +(bytes / 1e6 / time).toFixed(2), tokens: n,
  short_ns: Math.round(median(lat)), mb_s_bytes: +(bytes / 1e6 / bufferTime).toFixed(2) }));
