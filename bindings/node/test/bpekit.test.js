'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const bpekit = require('..');

const CORPUS = [
  'the cat sat on the mat; the dog sat on the log.',
  'Numbers 12345 and 678, symbols !? and\nnew lines\r\n\tand tabs.',
  'Ünïcödé: naïve café, 日本語のテキスト, emoji 🙂🙂.',
  'the the the cat cat dog <|eos|> is text here',
];

function trained() {
  const tr = new bpekit.Trainer();
  try {
    tr.feedBatch(CORPUS);
    tr.setSpecialTokens(['<|bos|>', '<|eos|>']);
    return tr.finish(320);
  } finally {
    tr.close();
  }
}

function tempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'bpekit-node-'));
}

test('train, encode, decode, save, load', () => {
  const tok = trained();
  assert.equal(tok.vocabSize, 320);
  assert.deepEqual(tok.specialTokens, { '<|bos|>': 318, '<|eos|>': 319 });
  assert.equal(tok.pattern, bpekit.namedPattern('cl100k_base'));
  for (const text of CORPUS) {
    const ids = tok.encodeOrdinary(text);
    assert.ok(ids instanceof Uint32Array);
    assert.equal(tok.decode(ids), text);
    assert.deepEqual(tok.decodeBytes(ids), Buffer.from(text));
    assert.equal(tok.count(text, { disallowedSpecial: [] }), ids.length);
    assert.deepEqual(tok.encodeOrdinary(Buffer.from(text)), ids, 'bytes in, same ids');
  }
  const file = path.join(tempDir(), 'tok.bpekit');
  tok.save(file);
  const back = bpekit.Tokenizer.load(file);
  assert.deepEqual(back.toBytes(), tok.toBytes());
  assert.deepEqual(bpekit.Tokenizer.fromBytes(tok.toBytes()).encodeOrdinary(CORPUS[2]), tok.encodeOrdinary(CORPUS[2]));
  back.close();
  tok.close();
});

test('special-token policies as tiktoken has them', () => {
  const tok = trained();
  const text = 'a<|eos|>b';
  assert.throws(() => tok.encode(text), (e) => e instanceof bpekit.DisallowedSpecialError &&
    e instanceof bpekit.BpekitError && e.code === 'BPEKIT_ERR_DISALLOWED_SPECIAL' && e.message.includes('<|eos|>'));
  const ids = tok.encode(text, { allowedSpecial: ['<|eos|>'] });
  assert.deepEqual([...ids], [97, 319, 98]);
  assert.deepEqual(tok.encode(text, { allowedSpecial: 'all' }), ids);
  assert.deepEqual(tok.encode(text, { disallowedSpecial: [] }), tok.encodeOrdinary(text));
  assert.throws(() => tok.encode('xyz', { disallowedSpecial: ['y'] }), bpekit.DisallowedSpecialError);
  assert.equal(tok.count(text, { allowedSpecial: 'all' }), 3);
});

test('encodeInto writes into the caller\'s array, or says how much it needs', () => {
  const tok = trained();
  const out = new Uint32Array(64).fill(7);
  const text = 'the cat <|eos|> sat';
  const n = tok.encodeInto(text, out, { allowedSpecial: 'all' });
  assert.deepEqual(out.subarray(0, n), tok.encode(text, { allowedSpecial: 'all' }));
  const small = new Uint32Array(2).fill(7);
  assert.throws(() => tok.encodeInto(text, small, { allowedSpecial: 'all' }),
    (e) => e instanceof bpekit.BufferTooSmallError && e.needed === n);
  assert.deepEqual([...small], [7, 7], 'left as it was');
  assert.throws(() => tok.encodeInto(text, out), bpekit.DisallowedSpecialError);
  assert.throws(() => tok.encodeInto(text, [1, 2]), TypeError);
  assert.equal(tok.encodeInto('', new Uint32Array(0)), 0);
});

test('a batch equals each text encoded alone', () => {
  const tok = trained();
  const texts = ['', ...CORPUS];
  for (const threads of [0, 1, 2]) {
    const got = tok.encodeBatch(texts, { threads, allowedSpecial: 'all' });
    assert.equal(got.length, texts.length);
    texts.forEach((t, i) => assert.deepEqual(got[i], tok.encode(t, { allowedSpecial: 'all' })));
  }
  assert.throws(() => tok.encodeBatch(['ok', 'bad <|eos|>']), (e) => e instanceof bpekit.DisallowedSpecialError &&
    /\b1\b/.test(e.message));
  assert.throws(() => tok.encodeBatch(texts, { threads: -1 }), bpekit.InvalidArgumentError);
  assert.deepEqual(tok.encodeBatch([]), []);
});

test('stream decoding holds back a cut character', () => {
  const tok = trained();
  const ids = tok.encodeOrdinary(CORPUS[2]);
  const d = tok.decoder();
  let text = '';
  for (const id of ids) {
    const part = d.add(id);
    assert.ok(!part.includes('\uFFFD'), part);
    text += part;
  }
  assert.equal(text + d.flush(), CORPUS[2]);
  d.close();
  const tr = new bpekit.Trainer();
  const bytesOnly = tr.finish(256);
  const cut = bytesOnly.encodeOrdinary('é');
  assert.equal(cut.length, 2);
  assert.equal(bytesOnly.decode(cut.subarray(0, 1)), '\uFFFD', 'as tiktoken decodes a cut character');
  assert.equal(bytesOnly.decodeBytes(cut.subarray(0, 1)).length, 1);
});

test('count tables from many trainers train the same vocabulary', () => {
  const pattern = bpekit.namedPattern('llama3');
  const one = new bpekit.Trainer(pattern);
  one.feedBatch(CORPUS);
  const merged = new bpekit.Trainer(pattern);
  for (const half of [CORPUS.slice(0, 2), CORPUS.slice(2)]) {
    const worker = new bpekit.Trainer(pattern);
    half.forEach((t) => worker.feed(t));
    merged.addCounts(worker.exportCounts());
    worker.close();
  }
  assert.deepEqual(merged.finish(300).toBytes(), one.finish(300).toBytes());
  assert.throws(() => merged.addCounts(Buffer.from('not a table')), bpekit.FormatError);
});

test('a string gives the ids of its UTF-8, however many per UTF-16 unit', () => {
  const tok = trained();
  // ASCII runs past a block, 2- and 3-byte characters, surrogate pairs; rare characters
  // become several byte tokens, more ids than the string has units.
  for (const text of ['', 'plain ascii text, long enough for several blocks of sixteen units',
    'caf\u00e9 na\u00efve \u20ac\u20ac', '\u9fff\u4e00'.repeat(30), '\u{1f389}\u{10fffd} x'.repeat(20)]) {
    const bytes = Buffer.from(text, 'utf8');
    const ids = tok.encodeOrdinary(bytes);
    assert.deepEqual(tok.encodeOrdinary(text), ids, text);
    assert.equal(tok.count(text), ids.length);
    const out = new Uint32Array(3 * text.length);
    assert.deepEqual(out.subarray(0, tok.encodeInto(text, out)), ids);
  }
  const rare = '\u{10fffd}'.repeat(10);
  assert.ok(tok.encodeOrdinary(rare).length > rare.length, 'the case of more ids than units is covered');
});

test('bad input is a typed error, never a crash', () => {
  const tok = trained();
  assert.throws(() => tok.encodeOrdinary('lone \ud800 surrogate'), bpekit.InvalidUtf8Error);
  assert.throws(() => tok.count('x'.repeat(40) + '\udc00'), (e) => e instanceof bpekit.InvalidUtf8Error &&
    /unit 40/.test(e.message));
  assert.throws(() => tok.encodeInto('ab\ud83c', new Uint32Array(9)), bpekit.InvalidUtf8Error);
  assert.throws(() => tok.encodeOrdinary(Buffer.from([0x61, 0xff])), bpekit.InvalidUtf8Error);
  assert.throws(() => tok.encodeOrdinary(42), TypeError);
  assert.throws(() => tok.decode([5, 2 ** 30]), bpekit.UnknownTokenError);
  assert.throws(() => tok.decode([-1]), bpekit.InvalidArgumentError);
  assert.throws(() => tok.decode([1.5]), bpekit.InvalidArgumentError);
  assert.throws(() => new bpekit.Trainer('(unclosed'), bpekit.PatternError);
  assert.throws(() => bpekit.namedPattern('nope'), bpekit.InvalidArgumentError);
  assert.throws(() => new bpekit.Trainer().finish(2 ** 33), bpekit.InvalidArgumentError);
  const data = tok.toBytes();
  data[data.length >> 1] ^= 1;
  assert.throws(() => bpekit.Tokenizer.fromBytes(data), bpekit.FormatError);
  const dir = tempDir();
  assert.throws(() => bpekit.Tokenizer.load(path.join(dir, 'missing')), bpekit.IoError);
  assert.throws(() => bpekit.Tokenizer.loadTiktoken(path.join(dir, 'missing')), bpekit.IoError);
  assert.throws(() => bpekit.Tokenizer.fromTiktoken('not base64 at all\n'), bpekit.RanksError);
  assert.throws(() => tok.save(path.join(dir, 'no', 'such', 'dir', 'tok.bpekit')), bpekit.IoError);
  assert.deepEqual(fs.readdirSync(dir), [], 'a failed save leaves nothing behind');
  // Closed objects.
  const closed = bpekit.Tokenizer.fromBytes(tok.toBytes());
  const d = closed.decoder();
  closed.close();
  closed.close();
  assert.equal(closed.closed, true);
  assert.throws(() => closed.encodeOrdinary('x'), bpekit.ClosedError);
  assert.throws(() => closed.vocabSize, bpekit.ClosedError);
  assert.throws(() => d.add(1), bpekit.ClosedError);
  d.close();
  assert.throws(() => d.flush(), bpekit.ClosedError);
  const tr = new bpekit.Trainer();
  tr.close();
  assert.throws(() => tr.feed('x'), bpekit.ClosedError);
  assert.throws(() => bpekit.Tokenizer.borrow(0n), bpekit.InvalidArgumentError);
});

test('a normalizing tokenizer: NFC can make a text longer than its bytes', () => {
  const tok = trained();
  const nfc = tok.withNormalization('nfc');
  assert.equal(nfc.normalization, 'nfc');
  assert.equal(tok.normalization, null);
  for (const text of ['\u{1D160}', '\u{1D160}'.repeat(400), 'cafe\u0301']) {
    const ids = nfc.encodeOrdinary(text);
    assert.deepEqual(nfc.encode(text, { allowedSpecial: 'all' }), ids);
    assert.deepEqual(nfc.encodeBatch([text])[0], ids);
    assert.equal(nfc.count(text), ids.length);
    assert.ok(ids.length > Buffer.byteLength(text) || text.length < 100);
  }
  assert.equal(nfc.decode(nfc.encodeOrdinary('cafe\u0301')), 'caf\u00e9');
  assert.equal(bpekit.Tokenizer.fromBytes(nfc.toBytes()).normalization, 'nfc');
  assert.throws(() => tok.withNormalization('nfd'), bpekit.InvalidArgumentError);
});

test('count reads the options before the text', () => {
  const tok = trained();
  const allow = { *[Symbol.iterator]() { tok.encode('zz'); yield '<|eos|>'; } };
  const text = 'the cat <|eos|> sat';
  assert.equal(tok.count(text, { allowedSpecial: allow }), tok.encode(text, { allowedSpecial: ['<|eos|>'] }).length);
});

test('reading the handle keeps an unclosed owner from being freed', async () => {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const bpekit = require(${JSON.stringify(path.join(__dirname, '..'))});
    parentPort.postMessage(Array.from(bpekit.Tokenizer.borrow(workerData).encodeOrdinary('the cat')));`;
  let handle;
  let want;
  let owner;
  (() => {
    const tok = trained();
    handle = tok.handle; // the owner itself becomes unreachable here, unclosed
    want = Array.from(tok.encodeOrdinary('the cat'));
    owner = new WeakRef(tok);
  })();
  for (let i = 0; i < 10 && global.gc; i++) {
    global.gc(); // (finalizers run in later tasks)
    await new Promise((r) => setTimeout(r, 10));
  }
  const got = await new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: handle });
    w.once('message', resolve);
    w.once('error', reject);
  });
  assert.deepEqual(got, want);
  if (global.gc) assert.ok(owner.deref() !== undefined, 'the owner was collected (and its tokenizer freed)');
  owner.deref().close();
});

test('one tokenizer shared by 8 worker threads gives each the same ids', async () => {
  const tok = trained();
  const texts = Array.from({ length: 64 }, (_, i) => CORPUS[i % CORPUS.length].repeat(1 + (i % 5)));
  const want = texts.map((t) => Array.from(tok.encodeOrdinary(t)));
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const bpekit = require(${JSON.stringify(path.join(__dirname, '..'))});
    const tok = bpekit.Tokenizer.borrow(workerData.handle);
    const out = [];
    for (let round = 0; round < 20; round++)
      for (let i = workerData.first; i < workerData.texts.length; i += 8)
        out.push([i, Array.from(tok.encodeOrdinary(workerData.texts[i]))]);
    tok.close(); // a borrowed tokenizer releases nothing
    parentPort.postMessage(out);`;
  const results = await Promise.all(Array.from({ length: 8 }, (_, first) => new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { handle: tok.handle, texts, first } });
    w.once('message', resolve);
    w.once('error', reject);
  })));
  let n = 0;
  for (const out of results) {
    for (const [i, ids] of out) {
      assert.deepEqual(ids, want[i]);
      n++;
    }
  }
  assert.equal(n, 20 * texts.length);
  assert.deepEqual(Array.from(tok.encodeOrdinary(texts[0])), want[0], 'the owner is still usable');
  tok.close();
});

const DATA = process.env.BPEKIT_DATA || path.join(__dirname, '..', '..', '..', '..', 'shared', 'data');

test('the real cl100k_base ranks give tiktoken\'s ids', (t) => {
  const file = path.join(DATA, 'cl100k_base.tiktoken');
  if (!fs.existsSync(file)) {
    t.skip(`no ${file} (set BPEKIT_DATA)`);
    return;
  }
  const tok = bpekit.Tokenizer.loadTiktoken(file, {
    pattern: bpekit.namedPattern('cl100k_base'), specialTokens: { '<|endoftext|>': 100257 },
  });
  assert.deepEqual([...tok.encode('hello world<|endoftext|>', { allowedSpecial: 'all' })], [15339, 1917, 100257]);
});

test('the ABI version is the header\'s', (t) => {
  const header = path.join(__dirname, '..', '..', '..', 'include', 'bpekit.h');
  if (!fs.existsSync(header)) {
    t.skip('not in the bpekit repository (no include/bpekit.h)');
    return;
  }
  const m = fs.readFileSync(header, 'utf8').match(/#define BPEKIT_ABI_VERSION (\d+)/);
  assert.equal(bpekit.ABI_VERSION, Number(m[1]));
  assert.match(bpekit.version, /^\d+\.\d+\.\d+/);
});
