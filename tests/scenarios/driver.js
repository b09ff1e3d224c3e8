'use strict';
// The Node host's scenario driver: runs cases.txt (argument 1) through bindings/node and
// prints one canonical JSON line per operation (README.md here).

const fs = require('node:fs');
const path = require('node:path');
const bpekit = require(path.join(__dirname, '..', '..', 'bindings', 'node'));

function fnv(data) {
  let h = 0xcbf29ce484222325n;
  for (const b of data) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

const unhex = (arg) => (arg === '-' ? Buffer.alloc(0) : Buffer.from(arg, 'hex'));
const text = (arg) => unhex(arg).toString('utf8');
const ids = (arg) => arg.split(',').map(Number);
const hex = (s) => Buffer.from(s, 'utf8').toString('hex');

function js(v) {
  if (v === true || v === false) return String(v);
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return `"${v}"`;
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return `[${Array.from(v, js).join(',')}]`;
  return `{${Object.entries(v).map(([k, x]) => `"${k}":${js(x)}`).join(',')}}`;
}

const POLICIES = {
  default: {},
  all: { allowedSpecial: 'all' },
  none: { disallowedSpecial: [] },
};

class Case {
  constructor() {
    this.pattern = null;
    this.specials = [];
    this.trainer = null;
    this.tok = null;
  }

  summary(tok) {
    const specials = Object.entries(tok.specialTokens)
      .map(([t, id]) => [hex(t), id])
      .sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return { vocab_size: tok.vocabSize, file: fnv(tok.toBytes()), specials };
  }

  run(op, arg) {
    switch (op) {
      case 'trainer':
        this.pattern = arg.startsWith('hex:') ? text(arg.slice(4)) : bpekit.namedPattern(arg);
        this.specials = [];
        if (this.trainer) this.trainer.close();
        this.trainer = null;
        this.trainer = new bpekit.Trainer(this.pattern);
        return true;
      case 'specials': {
        const tokens = arg.split(',').map(text);
        this.trainer.setSpecialTokens(tokens);
        this.specials = tokens;
        return true;
      }
      case 'feed':
        this.trainer.feed(unhex(arg));
        return true;
      case 'feed_batch':
        this.trainer.feedBatch(arg.split(',').map(unhex));
        return true;
      case 'finish':
        this.tok = this.trainer.finish(Number(arg));
        return this.summary(this.tok);
      case 'encode':
      case 'count':
      case 'batch': {
        const [policy, data] = arg.split(' ');
        const options = POLICIES[policy];
        if (op === 'encode') return this.tok.encode(text(data), options);
        if (op === 'count') return this.tok.count(text(data), options);
        return this.tok.encodeBatch(data.split(',').map(text), { ...options, threads: 2 });
      }
      case 'decode':
        return { bytes: this.tok.decodeBytes(ids(arg)).toString('hex'), text: hex(this.tok.decode(ids(arg))) };
      case 'stream': {
        const d = this.tok.decoder();
        const out = ids(arg).map((i) => hex(d.add(i)));
        out.push(hex(d.flush()));
        d.close();
        return out;
      }
      case 'normalize':
        this.tok = this.tok.withNormalization(arg === 'nfc' ? 'nfc' : null);
        return { file: fnv(this.tok.toBytes()) };
      case 'reload':
        this.tok = bpekit.Tokenizer.fromBytes(this.tok.toBytes());
        return { file: fnv(this.tok.toBytes()) };
      case 'corrupt': {
        const data = this.tok.toBytes();
        data[Number(arg)] ^= 1;
        return { file: fnv(bpekit.Tokenizer.fromBytes(data).toBytes()) };
      }
      case 'recount': {
        const table = this.trainer.exportCounts();
        const again = new bpekit.Trainer(this.pattern);
        if (this.specials.length) again.setSpecialTokens(this.specials);
        again.addCounts(table);
        const out = { table: fnv(table), file: fnv(again.finish(Number(arg)).toBytes()) };
        again.close();
        return out;
      }
      default:
        throw new Error(`unknown op ${op}`);
    }
  }
}

let c = null;
let name = '';
let n = 0;
const lines = [];
for (const line of fs.readFileSync(process.argv[2], 'utf8').split('\n')) {
  if (!line || line.startsWith('#')) continue;
  const at = line.indexOf(' ');
  const op = at < 0 ? line : line.slice(0, at);
  const arg = at < 0 ? '' : line.slice(at + 1);
  if (op === 'case') {
    c = new Case();
    name = arg;
    n = 0;
    continue;
  }
  let out;
  try {
    out = `"ok":${js(c.run(op, arg))}`;
  } catch (e) {
    if (!(e instanceof bpekit.BpekitError)) throw e;
    out = `"error":"${e.code}"`;
  }
  lines.push(`{"case":"${name}","op":${n},${out}}`);
  n++;
}
process.stdout.write(lines.join('\n') + '\n');
