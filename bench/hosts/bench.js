'use strict';
// The Node host of bench/host_bench.py; the commands of bench.c, plus `bytes` (`big`
// with the text as the file's bytes, a Buffer) and `into` (`big` through encodeInto, into
// a Uint32Array kept across calls). Usage: node bench.js TOKENIZER TEXT
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const bpekit = require(path.join(__dirname, '..', '..', 'bindings', 'node'));

const [file, textFile] = process.argv.slice(2);
const tok = bpekit.Tokenizer.load(file);
const text = fs.readFileSync(textFile, 'utf8');
const bytes = fs.readFileSync(textFile);
const ids = new Uint32Array(3 * text.length);

function timed(f) {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0);
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let out;
  if (line === 'big') out = (timed(() => tok.encodeOrdinary(text)) / 1e9).toFixed(9);
  else if (line === 'bytes') out = (timed(() => tok.encodeOrdinary(bytes)) / 1e9).toFixed(9);
  else if (line === 'into') out = (timed(() => tok.encodeInto(text, ids)) / 1e9).toFixed(9);
  else if (line === 'tokens') out = String(tok.encodeOrdinary(text).length);
  else if (line === 'short') {
    const calls = 20000;
    out = (timed(() => { for (let i = 0; i < calls; i++) tok.encodeOrdinary('hello world'); }) / calls).toFixed(3);
  } else process.exit(2);
  process.stdout.write(out + '\n');
});
