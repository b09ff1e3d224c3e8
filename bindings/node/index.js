'use strict';
// bpekit for Node: byte-level BPE with tiktoken's exact ids, over bpekit's C library
// (libbpekit), loaded at run time with koffi (no compiler, no build against Node).
//
// Where the library comes from, first match wins: the BPEKIT_LIB environment variable
// (a path); the copy bundled in this package (prebuilds/<platform>-<arch>/); the
// system's, by its SONAME, as the dynamic loader searches.

const fs = require('node:fs');
const path = require('node:path');
const koffi = require('koffi');
const os = require('node:os');

// The C ABI this file is written against (BPEKIT_ABI_VERSION in bpekit.h).
const ABI_VERSION = 2;

const FILE_NAMES = { linux: 'libbpekit.so', darwin: 'libbpekit.dylib', win32: 'bpekit.dll' };
const SONAMES = { linux: 'libbpekit.so.2', darwin: 'libbpekit.2.dylib', win32: 'bpekit.dll' };

function libraryPath() {
  if (process.env.BPEKIT_LIB) return process.env.BPEKIT_LIB;
  const name = FILE_NAMES[process.platform] || FILE_NAMES.linux;
  const bundled = path.join(__dirname, 'prebuilds', `${process.platform}-${process.arch}`, name);
  if (fs.existsSync(bundled)) return bundled;
  return SONAMES[process.platform] || SONAMES.linux;
}

// ---- errors ----

/** A failed call: `code` is the C status name (`'BPEKIT_ERR_UNKNOWN_TOKEN'`), `status` its number. */
class BpekitError extends Error {
  constructor(message, code, status) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
  }
}
class NullArgumentError extends BpekitError {}
class InvalidArgumentError extends BpekitError {}
class InvalidUtf8Error extends BpekitError {}
class UnknownTokenError extends BpekitError {}
class DisallowedSpecialError extends BpekitError {}
class PatternError extends BpekitError {}
class RanksError extends BpekitError {}
class BufferTooSmallError extends BpekitError {}
class InternalError extends BpekitError {}
class FormatError extends BpekitError {}
class IoError extends BpekitError {}
/** A call on a closed Tokenizer, Trainer or StreamDecoder. */
class ClosedError extends BpekitError {}

const STATUS = [
  [1, 'BPEKIT_ERR_NULL_ARG', NullArgumentError],
  [2, 'BPEKIT_ERR_INVALID_ARG', InvalidArgumentError],
  [3, 'BPEKIT_ERR_INVALID_UTF8', InvalidUtf8Error],
  [4, 'BPEKIT_ERR_UNKNOWN_TOKEN', UnknownTokenError],
  [5, 'BPEKIT_ERR_DISALLOWED_SPECIAL', DisallowedSpecialError],
  [6, 'BPEKIT_ERR_BAD_PATTERN', PatternError],
  [7, 'BPEKIT_ERR_BAD_RANKS', RanksError],
  [8, 'BPEKIT_ERR_BUFFER_TOO_SMALL', BufferTooSmallError],
  [9, 'BPEKIT_ERR_PANIC', InternalError],
  [10, 'BPEKIT_ERR_BAD_FORMAT', FormatError],
  [11, 'BPEKIT_ERR_IO', IoError],
];
const BY_STATUS = new Map(STATUS.map(([n, name, cls]) => [n, [name, cls]]));

function failure(status, message) {
  const [name, cls] = BY_STATUS.get(status) || [`BPEKIT_ERR_${status}`, BpekitError];
  return new cls(message, name, status);
}

function invalid(message) {
  return failure(2, message);
}

// ---- the library ----

let loaded;
function lib() {
  if (loaded) return loaded;
  const file = libraryPath();
  let handle;
  try {
    handle = koffi.load(file);
  } catch (e) {
    throw new Error(`bpekit: cannot load the native library ${file}: ${e.message} ` +
      '(set BPEKIT_LIB to its path, or install libbpekit)');
  }
  koffi.opaque('bpekit_tokenizer');
  koffi.opaque('bpekit_trainer');
  koffi.opaque('bpekit_error');
  koffi.opaque('bpekit_stream_decoder');
  koffi.struct('bpekit_tokens', { ids: 'uint32_t *', len: 'size_t' });
  koffi.struct('bpekit_bytes', { data: 'uint8_t *', len: 'size_t' });
  koffi.struct('bpekit_offsets', { data: 'size_t *', len: 'size_t' });
  koffi.struct('bpekit_slice', { data: 'const uint8_t *', len: 'size_t' });
  koffi.struct('bpekit_special_token', { text: 'bpekit_slice', id: 'uint32_t' });
  koffi.struct('bpekit_special_policy', {
    allowed: 'const bpekit_slice *', n_allowed: 'size_t',
    disallowed: 'const bpekit_slice *', n_disallowed: 'size_t', flags: 'uint32_t',
  });
  const f = (proto) => handle.func(proto);
  const E = '_Out_ bpekit_error **err';
  const L = {
    abi: f('uint32_t bpekit_abi_version()'),
    version: f('const char *bpekit_version()'),
    errorMessage: f('const char *bpekit_error_message(const bpekit_error *e)'),
    errorFree: f('void bpekit_error_free(bpekit_error *e)'),
    tokensFree: f('void bpekit_tokens_free(_Inout_ bpekit_tokens *t)'),
    bytesFree: f('void bpekit_bytes_free(_Inout_ bpekit_bytes *b)'),
    offsetsFree: f('void bpekit_offsets_free(_Inout_ bpekit_offsets *o)'),
    patternNamed: f(`int32_t bpekit_pattern_named(const uint8_t *name, size_t n, _Out_ uint8_t **data, _Out_ size_t *len, ${E})`),
    tokNew: f(`int32_t bpekit_tokenizer_new(const uint8_t *ranks, size_t ranks_len, const uint8_t *pattern, size_t pattern_len, const bpekit_special_token *specials, size_t n_special, _Out_ bpekit_tokenizer **out, ${E})`),
    tokLoad: f(`int32_t bpekit_tokenizer_load(const uint8_t *path, size_t n, _Out_ bpekit_tokenizer **out, ${E})`),
    tokFromBytes: f(`int32_t bpekit_tokenizer_from_bytes(const uint8_t *data, size_t n, _Out_ bpekit_tokenizer **out, ${E})`),
    tokFree: f('void bpekit_tokenizer_free(bpekit_tokenizer *tok)'),
    encodeInto: f(`int32_t bpekit_tokenizer_encode_into(const bpekit_tokenizer *tok, const uint8_t *text, size_t len, const bpekit_special_policy *policy, uint32_t *out, size_t cap, _Out_ size_t *out_len, ${E})`),
    encodeOrdinary: f(`int32_t bpekit_tokenizer_encode_ordinary(const bpekit_tokenizer *tok, const uint8_t *text, size_t len, _Out_ bpekit_tokens *out, ${E})`),
    count: f(`int32_t bpekit_tokenizer_count(const bpekit_tokenizer *tok, const uint8_t *text, size_t len, const bpekit_special_policy *policy, _Out_ size_t *out, ${E})`),
    encodeBatch: f(`int32_t bpekit_tokenizer_encode_batch(const bpekit_tokenizer *tok, const bpekit_slice *texts, size_t n, void *policy, size_t threads, _Out_ bpekit_tokens *ids, _Out_ bpekit_offsets *offsets, ${E})`),
    decode: f(`int32_t bpekit_tokenizer_decode(const bpekit_tokenizer *tok, const uint32_t *ids, size_t n, _Out_ bpekit_bytes *out, ${E})`),
    specialCount: f('size_t bpekit_tokenizer_special_count(const bpekit_tokenizer *tok)'),
    specialToken: f(`int32_t bpekit_tokenizer_special_token(const bpekit_tokenizer *tok, size_t i, _Out_ uint8_t **text, _Out_ size_t *len, _Out_ uint32_t *id, ${E})`),
    vocabSize: f('size_t bpekit_tokenizer_vocab_size(const bpekit_tokenizer *tok)'),
    normalization: f('uint32_t bpekit_tokenizer_normalization(const bpekit_tokenizer *tok)'),
    withNormalization: f(`int32_t bpekit_tokenizer_with_normalization(const bpekit_tokenizer *tok, uint32_t n, _Out_ bpekit_tokenizer **out, ${E})`),
    pattern: f(`int32_t bpekit_tokenizer_pattern(const bpekit_tokenizer *tok, _Out_ uint8_t **data, _Out_ size_t *len, ${E})`),
    save: f(`int32_t bpekit_tokenizer_save(const bpekit_tokenizer *tok, const uint8_t *path, size_t n, ${E})`),
    toBytes: f(`int32_t bpekit_tokenizer_to_bytes(const bpekit_tokenizer *tok, _Out_ bpekit_bytes *out, ${E})`),
    decNew: f(`int32_t bpekit_stream_decoder_new(uint32_t mode, _Out_ bpekit_stream_decoder **out, ${E})`),
    decAdd: f(`int32_t bpekit_stream_decoder_add(bpekit_stream_decoder *dec, const bpekit_tokenizer *tok, const uint32_t *ids, size_t n, _Out_ bpekit_bytes *out, ${E})`),
    decFlush: f(`int32_t bpekit_stream_decoder_flush(bpekit_stream_decoder *dec, _Out_ bpekit_bytes *out, ${E})`),
    decFree: f('void bpekit_stream_decoder_free(bpekit_stream_decoder *dec)'),
    trNew: f(`int32_t bpekit_trainer_new(const uint8_t *pattern, size_t n, _Out_ bpekit_trainer **out, ${E})`),
    trFeed: f(`int32_t bpekit_trainer_feed(bpekit_trainer *t, const uint8_t *text, size_t n, ${E})`),
    trFeedBatch: f(`int32_t bpekit_trainer_feed_batch(bpekit_trainer *t, const bpekit_slice *texts, size_t n, ${E})`),
    trSpecials: f(`int32_t bpekit_trainer_set_special_tokens(bpekit_trainer *t, const bpekit_slice *tokens, size_t n, ${E})`),
    trThreads: f(`int32_t bpekit_trainer_set_threads(bpekit_trainer *t, size_t n, ${E})`),
    trFinish: f(`int32_t bpekit_trainer_finish(bpekit_trainer *t, uint32_t vocab_size, _Out_ bpekit_tokenizer **out, ${E})`),
    trExport: f(`int32_t bpekit_trainer_export_counts(const bpekit_trainer *t, _Out_ bpekit_bytes *out, ${E})`),
    trAdd: f(`int32_t bpekit_trainer_add_counts(bpekit_trainer *t, const uint8_t *data, size_t n, ${E})`),
    trFree: f('void bpekit_trainer_free(bpekit_trainer *t)'),
  };
  // The hot calls again, every pointer an address (a bigint): koffi then converts no
  // buffer, array or struct (see `hot` below).
  L.encodeIntoRaw = f('int32_t bpekit_tokenizer_encode_into(void *tok, void *text, size_t len, void *policy, void *out, size_t cap, void *out_len, void *err)');
  L.countRaw = f('int32_t bpekit_tokenizer_count(void *tok, void *text, size_t len, void *policy, void *out, void *err)');
  L.encodeUtf16IntoRaw = f('int32_t bpekit_tokenizer_encode_utf16_into(void *tok, void *text, size_t len, void *policy, void *out, size_t cap, void *out_len, void *err)');
  L.countUtf16Raw = f('int32_t bpekit_tokenizer_count_utf16(void *tok, void *text, size_t len, void *policy, void *out, void *err)');
  L.errorMessageRaw = f('const char *bpekit_error_message(void *e)');
  L.errorFreeRaw = f('void bpekit_error_free(void *e)');
  const found = L.abi();
  if (found !== ABI_VERSION) {
    throw new Error(`bpekit: ${file} has ABI version ${found}, this package needs ${ABI_VERSION}`);
  }
  loaded = L;
  return L;
}

/** Runs a fallible call whose last argument is the error out-parameter; throws its error. */
function call(fn, ...args) {
  const err = [null];
  const status = fn(...args, err);
  if (status !== 0) {
    const L = lib();
    const message = err[0] ? L.errorMessage(err[0]) : `status ${status}`;
    if (err[0]) L.errorFree(err[0]);
    throw failure(status, message);
  }
}

// The hot calls (encode, count) pass addresses: of the text's UTF-8 and of the ids in
// scratch buffers reused across calls (one module instance per thread), of two cells
// for the id count and the error, of the policy's bytes. A call allocates only its
// result. Texts past SCRATCH_MAX bytes get buffers of their own. Addresses stay valid:
// buffer memory never moves, and each buffer is referenced while it is in use.
const SCRATCH_MAX = 64 << 20;
const hot = {
  text: null, textAddr: 0n,
  ids: null, idsAddr: 0n,
  cells: new BigUint64Array(2), cellsAddr: 0n, // [0]: the count out, [1]: the error out
};
const REPLACEMENT = Buffer.from([0xef, 0xbf, 0xbd]); // U+FFFD in UTF-8

function growText(n) {
  if (!hot.text || hot.text.length < n) {
    hot.text = Buffer.alloc(Math.max(n, hot.text ? hot.text.length * 2 : 4096));
    hot.textAddr = koffi.address(hot.text);
  }
}

function growIds(n) {
  if (!hot.ids || hot.ids.length < n) {
    hot.ids = new Uint32Array(Math.max(n, hot.ids ? hot.ids.length * 2 : 1024));
    hot.idsAddr = koffi.address(hot.ids);
  }
}

// Strings reach the library as their UTF-16 code units (a copy in the platform's byte
// order, which Node writes as 'utf16le' only on little-endian machines), transcoded
// there: Node's own UTF-8 conversion costs more than the library's, and a lone surrogate
// is then refused by the library (InvalidUtf8Error naming its unit) instead of turned
// into U+FFFD. Big-endian machines pass UTF-8, checked for lone surrogates here.
const WIDE = os.endianness() === 'LE';

/**
 * A text argument: [address, length, the buffer to keep alive, wide]. `wide`: the
 * length counts UTF-16 units (a string, on little-endian machines); else UTF-8 bytes.
 */
function textArg(text) {
  if (typeof text !== 'string') {
    const raw = utf8(text, 'text');
    return [raw.length ? koffi.address(raw) : 0n, raw.length, raw, false];
  }
  const size = WIDE ? text.length * 2 : text.length * 3;
  let buf;
  if (size > SCRATCH_MAX) {
    buf = Buffer.allocUnsafeSlow(size);
  } else {
    growText(size);
    buf = hot.text;
  }
  const len = buf.write(text, 0, WIDE ? 'utf16le' : 'utf8');
  if (!WIDE && buf.subarray(0, len).indexOf(REPLACEMENT) >= 0 && !text.isWellFormed()) {
    throw failure(3, 'text is not well-formed: it has a lone surrogate, which UTF-8 cannot hold');
  }
  const addr = buf === hot.text ? hot.textAddr : koffi.address(buf);
  return [len ? addr : 0n, WIDE ? len / 2 : len, buf, WIDE];
}

/** Calls a hot entry point whose last two arguments are the count and error cells. */
function hotCall(fn, ...args) {
  if (hot.cellsAddr === 0n) hot.cellsAddr = koffi.address(hot.cells);
  const status = fn(...args, hot.cellsAddr, hot.cellsAddr + 8n);
  if (status !== 0) throw cellError(status);
  return Number(hot.cells[0]);
}

/** The error a hot call left in the error cell (released here), as a BpekitError. */
function cellError(status) {
  const L = lib();
  const e = hot.cells[1];
  const message = e ? L.errorMessageRaw(e) : `status ${status}`;
  if (e) L.errorFreeRaw(e);
  hot.cells[1] = 0n;
  return failure(status, message);
}

/** Text as UTF-8 bytes: a string (which must be well-formed UTF-16), or bytes as given. */
function utf8(text, what) {
  if (typeof text === 'string') {
    if (!text.isWellFormed()) {
      throw failure(3, `${what} is not well-formed: it has a lone surrogate, which UTF-8 cannot hold`);
    }
    return Buffer.from(text, 'utf8');
  }
  if (text instanceof Uint8Array) return text;
  throw new TypeError(`${what} must be a string or a Uint8Array, not ${typeof text}`);
}

function takeBytes(b) {
  const L = lib();
  // (Buffer.from of a TypedArray copies; of the ArrayBuffer itself it would not.)
  const out = b.len ? Buffer.from(new Uint8Array(koffi.view(b.data, Number(b.len)))) : Buffer.alloc(0);
  L.bytesFree(b);
  return out;
}

/** A copy of a typed array. (V8's slice() is several times slower than new + set() for
 * large arrays, and faster for small ones.) */
function copyOf(src, Type) {
  if (src.length < 4096) return src.slice();
  const out = new Type(src.length);
  out.set(src);
  return out;
}

function takeTokens(t) {
  const L = lib();
  const n = Number(t.len);
  const out = n ? copyOf(new Uint32Array(koffi.view(t.ids, n * 4)), Uint32Array) : new Uint32Array(0);
  L.tokensFree(t);
  return out;
}

function borrowedString(data, len) {
  return len ? Buffer.from(koffi.view(data, Number(len))).toString('utf8') : '';
}

/** An array of bpekit_slice over UTF-8 buffers, laid out in one buffer kept alive by `keep`. */
function slices(items, what) {
  const bufs = Array.from(items, (t, i) => utf8(t, `${what}[${i}]`));
  const all = Buffer.concat(bufs);
  const base = all.length ? koffi.address(all) : 0n;
  let at = 0;
  const array = bufs.map((b) => {
    const s = { data: b.length ? base + BigInt(at) : null, len: b.length };
    at += b.length;
    return s;
  });
  return { array, keep: all };
}

const ALLOW_ALL = 1;
const DISALLOW_ALL = 2;

/** The address of a policy's bpekit_special_policy in memory (0n for the default),
 * built once per policy object: [address, what to keep alive]. */
function policyAddr(p) {
  if (p.c === null) return [0n, null];
  if (p.addr === undefined) {
    const T = 'bpekit_special_policy';
    const mem = Buffer.alloc(koffi.sizeof(T));
    const words = new BigUint64Array(mem.buffer, mem.byteOffset, mem.length / 8);
    const keep = [mem];
    const list = (items) => {
      if (!items || !items.length) return 0n;
      const arr = Buffer.alloc(items.length * koffi.sizeof('bpekit_slice'));
      const w = new BigUint64Array(arr.buffer, arr.byteOffset, arr.length / 8);
      items.forEach((it, i) => {
        w[2 * i] = it.data || 0n;
        w[2 * i + 1] = BigInt(it.len);
      });
      keep.push(arr);
      return koffi.address(arr);
    };
    const at = (field) => koffi.offsetof(T, field) / 8;
    words[at('allowed')] = list(p.c.allowed);
    words[at('n_allowed')] = BigInt(p.c.n_allowed);
    words[at('disallowed')] = list(p.c.disallowed);
    words[at('n_disallowed')] = BigInt(p.c.n_disallowed);
    new Uint32Array(mem.buffer, mem.byteOffset, mem.length / 4)[koffi.offsetof(T, 'flags') / 4] = p.c.flags;
    p.addr = koffi.address(mem);
    p.mem = keep.concat(p.keep || []);
  }
  return [p.addr, p.mem];
}

const DEFAULT_POLICY = { c: null };
const ALL_POLICY = { c: { allowed: null, n_allowed: 0, disallowed: null, n_disallowed: 0, flags: 1 | 2 } };
const ORDINARY_POLICY = { c: { allowed: null, n_allowed: 0, disallowed: null, n_disallowed: 0, flags: 0 } };

/** tiktoken's allowedSpecial / disallowedSpecial as a bpekit_special_policy (null: the default). */
function policyOf(options) {
  const allowed = options && options.allowedSpecial;
  const disallowed = options && options.disallowedSpecial;
  if (allowed === undefined && (disallowed === undefined || disallowed === 'all')) return DEFAULT_POLICY;
  if (allowed === 'all' && (disallowed === undefined || disallowed === 'all')) return ALL_POLICY;
  let flags = 0;
  let allowList = { array: [], keep: null };
  let disallowList = { array: [], keep: null };
  if (allowed === 'all') flags |= ALLOW_ALL;
  else if (allowed !== undefined) allowList = slices(allowed, 'allowedSpecial');
  if (disallowed === undefined || disallowed === 'all') flags |= DISALLOW_ALL;
  else disallowList = slices(disallowed, 'disallowedSpecial');
  return {
    c: {
      allowed: allowList.array.length ? allowList.array : null, n_allowed: allowList.array.length,
      disallowed: disallowList.array.length ? disallowList.array : null, n_disallowed: disallowList.array.length,
      flags,
    },
    keep: [allowList.keep, disallowList.keep],
  };
}

function idsArray(ids) {
  if (ids instanceof Uint32Array) return ids;
  if (!Array.isArray(ids) && !ArrayBuffer.isView(ids)) throw new TypeError('ids must be a Uint32Array or an array of numbers');
  const out = new Uint32Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) {
      throw invalid(`ids[${i}] = ${id} is not a token id (an integer in 0..2^32-1)`);
    }
    out[i] = id;
  }
  return out;
}

// Releases native objects that were never closed (a safety net; close() is the way).
const finalizers = new FinalizationRegistry(({ free, ptr }) => free(ptr));
// Tokenizers whose handle was read (for Tokenizer.borrow elsewhere): kept reachable, so
// never finalized, until closed.
const SHARED = new Set();

class Native {
  constructor(ptr, free, owned = true) {
    this._ptr = ptr;
    this._free = free;
    if (owned) finalizers.register(this, { free, ptr }, this);
  }

  _live(what) {
    if (this._ptr === null) throw new ClosedError(`bpekit: this ${what} is closed`, 'BPEKIT_CLOSED', -1);
    return this._ptr;
  }

  /** Whether close() was called. */
  get closed() {
    return this._ptr === null;
  }

  /** Releases the native object now; later calls throw ClosedError. Closing twice is harmless. */
  close() {
    if (this._ptr !== null) {
      finalizers.unregister(this);
      if (this._free) this._free(this._ptr);
      this._ptr = null;
    }
  }
}

/** The pattern of a name: gpt2, r50k_base, p50k_base, cl100k_base, o200k_base, rustbpe, nanochat, llama3, qwen2, deepseek_v3. */
function namedPattern(name) {
  const L = lib();
  const raw = utf8(name, 'name');
  const data = [null];
  const len = [0];
  call(L.patternNamed, raw, raw.length, data, len);
  return borrowedString(data[0], len[0]);
}

class Tokenizer extends Native {
  /** @private Use the static constructors. */
  constructor(ptr, owned = true) {
    const L = lib();
    super(ptr, L.tokFree, owned);
    this._L = L;
  }

  static _make(fn, ...args) {
    const L = lib();
    const out = [null];
    call(fn, ...args, out);
    return new Tokenizer(out[0]);
  }

  /** Reads a tokenizer file written by save() (by any bpekit host). */
  static load(file) {
    const raw = utf8(String(file), 'path');
    return Tokenizer._make(lib().tokLoad, raw, raw.length);
  }

  /** Reads a tokenizer from a tokenizer file's bytes (toBytes() gives them). */
  static fromBytes(data) {
    const raw = utf8(data, 'data');
    return Tokenizer._make(lib().tokFromBytes, raw, raw.length);
  }

  /** A tokenizer from ranks in tiktoken's format, a split pattern (default: cl100k_base's) and special tokens. */
  static fromTiktoken(ranks, { pattern, specialTokens } = {}) {
    const L = lib();
    const raw = utf8(ranks, 'ranks');
    const pat = pattern === undefined || pattern === null ? null : utf8(pattern, 'pattern');
    const entries = Object.entries(specialTokens || {});
    const texts = slices(entries.map(([t]) => t), 'specialTokens');
    const list = entries.map(([, id], i) => {
      if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw invalid(`special token id ${id} is not an integer in 0..2^32-1`);
      return { text: texts.array[i], id };
    });
    const out = [null];
    call(L.tokNew, raw, raw.length, pat, pat ? pat.length : 0, list.length ? list : null, list.length, out);
    void texts.keep;
    return new Tokenizer(out[0]);
  }

  /** Reads a .tiktoken rank file (see fromTiktoken). */
  static loadTiktoken(file, options) {
    let data;
    try {
      data = fs.readFileSync(file);
    } catch (e) {
      throw failure(11, `cannot read ${file}: ${e.message}`);
    }
    return Tokenizer.fromTiktoken(data, options);
  }

  /**
   * A tokenizer over the native tokenizer `handle` (another Tokenizer's `.handle`, from
   * any worker thread of this process), not owning it: closing it releases nothing, and
   * the owner must stay open while it is used. A tokenizer is immutable, so any number
   * of threads may share one this way.
   */
  static borrow(handle) {
    if (typeof handle !== 'bigint' || handle === 0n) throw invalid('handle must be a non-zero bigint from Tokenizer.handle');
    const t = new Tokenizer(handle, false);
    t._free = null;
    return t;
  }

  /** The native tokenizer's address, for Tokenizer.borrow in a worker thread. Reading it
   * keeps this tokenizer alive (not collected, so not freed) until close(). */
  get handle() {
    const ptr = this._live('tokenizer');
    if (this._free) SHARED.add(this);
    return ptr;
  }

  close() {
    SHARED.delete(this);
    super.close();
  }

  /** 'nfc' or null: the Unicode normalization applied to ordinary text before splitting. */
  get normalization() {
    return this._L.normalization(this._live('tokenizer')) === 1 ? 'nfc' : null;
  }

  /** A copy applying `form` ('nfc' or null) to ordinary text before splitting; this one is unchanged. */
  withNormalization(form) {
    const tok = this._live('tokenizer');
    if (form !== null && form !== 'nfc') throw invalid(`normalization must be 'nfc' or null, not ${form}`);
    const out = [null];
    call(this._L.withNormalization, tok, form === 'nfc' ? 1 : 0, out);
    return new Tokenizer(out[0]);
  }

  /** tiktoken's encode: special-token text is an error unless allowed ({allowedSpecial: 'all' | [...], disallowedSpecial: 'all' | [...]}). */
  encode(text, options) {
    return this._encode(text, policyOf(options));
  }

  /**
   * encode() into `out` (a Uint32Array the caller keeps and reuses: no allocation per
   * call); returns how many ids were written. If they do not fit, BufferTooSmallError
   * (its `needed` is the count) and `out` is left as it was. A string of n UTF-16 units
   * (`text.length`) needs at most 3n ids, bytes of n UTF-8 bytes at most n (three
   * times as many for a tokenizer that normalizes).
   */
  encodeInto(text, out, options) {
    const tok = this._live('tokenizer');
    if (!(out instanceof Uint32Array)) throw new TypeError('out must be a Uint32Array');
    const [policy, keepPolicy] = policyAddr(policyOf(options));
    const [addr, len, keep, wide] = textArg(text);
    if (hot.cellsAddr === 0n) hot.cellsAddr = koffi.address(hot.cells);
    const outAddr = out.length ? koffi.address(out) : 0n;
    const fn = wide ? this._L.encodeUtf16IntoRaw : this._L.encodeIntoRaw;
    const status = fn(tok, addr, len, policy, outAddr, out.length, hot.cellsAddr, hot.cellsAddr + 8n);
    void keep;
    void keepPolicy;
    if (status !== 0) {
      const e = cellError(status);
      if (status === 8) e.needed = Number(hot.cells[0]);
      throw e;
    }
    return Number(hot.cells[0]);
  }

  /** Encodes text, treating special-token text as ordinary text. */
  encodeOrdinary(text) {
    return this._encode(text, ORDINARY_POLICY);
  }

  _encode(text, p) {
    const tok = this._live('tokenizer');
    const [addr, len, keep, wide] = textArg(text);
    const [policy, keepPolicy] = policyAddr(p);
    // A token has at least one byte, and a UTF-16 unit at most 3 bytes.
    const cap = wide ? 3 * len : len;
    let out;
    let outAddr;
    if (cap > SCRATCH_MAX / 4) {
      out = new Uint32Array(cap);
      outAddr = koffi.address(out);
    } else {
      growIds(cap);
      [out, outAddr] = [hot.ids, hot.idsAddr];
    }
    if (hot.cellsAddr === 0n) hot.cellsAddr = koffi.address(hot.cells);
    const fn = wide ? this._L.encodeUtf16IntoRaw : this._L.encodeIntoRaw;
    const status = fn(tok, addr, len, policy, outAddr, out.length, hot.cellsAddr, hot.cellsAddr + 8n);
    if (status === 8) {
      // BUFFER_TOO_SMALL: a normalizing tokenizer made the text longer (NFC); the count
      // needed is in the first cell. (The error object it made is released first.)
      cellError(status);
      const need = Number(hot.cells[0]);
      out = new Uint32Array(need);
      const n = hotCall(fn, tok, addr, len, policy, koffi.address(out), need);
      void keep;
      void keepPolicy;
      return out.subarray(0, n);
    }
    if (status !== 0) throw cellError(status);
    void keep;
    void keepPolicy;
    return copyOf(out.subarray(0, Number(hot.cells[0])), Uint32Array);
  }

  /** The number of tokens encode() would give, without building them. */
  count(text, options) {
    const tok = this._live('tokenizer');
    // (The policy first: reading the options can run user code, which may encode and
    // so reuse the scratch text.)
    const [policy, keepPolicy] = policyAddr(policyOf(options));
    const [addr, len, keep, wide] = textArg(text);
    const n = hotCall(wide ? this._L.countUtf16Raw : this._L.countRaw, tok, addr, len, policy);
    void keep;
    void keepPolicy;
    return n;
  }

  /** Encodes texts in parallel on `threads` threads (0: one per core), each as encode() would. */
  encodeBatch(texts, options = {}) {
    const tok = this._live('tokenizer');
    const threads = options.threads === undefined ? 0 : options.threads;
    if (!Number.isInteger(threads) || threads < 0) throw invalid(`threads must be a non-negative integer, not ${threads}`);
    const list = slices(texts, 'texts');
    const [policy, keepPolicy] = policyAddr(policyOf(options));
    const ids = {};
    const offsets = {};
    call(this._L.encodeBatch, tok, list.array.length ? list.array : null, list.array.length, policy, threads, ids, offsets);
    void list.keep;
    void keepPolicy;
    const flat = takeTokens(ids);
    const n = Number(offsets.len);
    const at = n ? copyOf(new BigUint64Array(koffi.view(offsets.data, n * 8)), BigUint64Array) : [];
    this._L.offsetsFree(offsets);
    const out = [];
    for (let i = 0; i + 1 < n; i++) out.push(flat.subarray(Number(at[i]), Number(at[i + 1])));
    return out;
  }

  /** The bytes of ids, concatenated (a token may hold part of a character). */
  decodeBytes(ids) {
    const tok = this._live('tokenizer');
    const a = idsArray(ids);
    const out = {};
    call(this._L.decode, tok, a, a.length, out);
    return takeBytes(out);
  }

  /** The text of ids; each ill-formed UTF-8 sequence becomes U+FFFD, as in tiktoken's decode. */
  decode(ids) {
    const d = this.decoder();
    try {
      return d.add(ids) + d.flush();
    } finally {
      d.close();
    }
  }

  /** A stream decoder: add(ids) returns the text that became complete; flush() ends the stream. */
  decoder() {
    this._live('tokenizer');
    return new StreamDecoder(this);
  }

  /** Special token text → id. */
  get specialTokens() {
    const tok = this._live('tokenizer');
    const out = {};
    const n = Number(this._L.specialCount(tok));
    for (let i = 0; i < n; i++) {
      const data = [null];
      const len = [0];
      const id = [0];
      call(this._L.specialToken, tok, i, data, len, id);
      out[borrowedString(data[0], len[0])] = id[0];
    }
    return out;
  }

  /** One more than the largest token id (tiktoken's n_vocab). */
  get vocabSize() {
    return Number(this._L.vocabSize(this._live('tokenizer')));
  }

  /** The split pattern. */
  get pattern() {
    const tok = this._live('tokenizer');
    const data = [null];
    const len = [0];
    call(this._L.pattern, tok, data, len);
    return borrowedString(data[0], len[0]);
  }

  /** Saves the tokenizer file atomically: on failure an existing file is untouched, nothing partial is left. */
  save(file) {
    const tok = this._live('tokenizer');
    const raw = utf8(String(file), 'path');
    call(this._L.save, tok, raw, raw.length);
  }

  /** The tokenizer file's bytes (fromBytes reads them). */
  toBytes() {
    const tok = this._live('tokenizer');
    const out = {};
    call(this._L.toBytes, tok, out);
    return takeBytes(out);
  }
}

const UTF8_REPLACE = 1;

class StreamDecoder extends Native {
  constructor(tokenizer) {
    const L = lib();
    const out = [null];
    call(L.decNew, UTF8_REPLACE, out);
    super(out[0], L.decFree);
    this._L = L;
    this._tok = tokenizer;
  }

  /** Decodes ids (an id or a list) and returns the text they complete, holding back a cut character. */
  add(ids) {
    const dec = this._live('decoder');
    const a = typeof ids === 'number' ? idsArray([ids]) : idsArray(ids);
    const out = {};
    call(this._L.decAdd, dec, this._tok._live('tokenizer'), a, a.length, out);
    return takeBytes(out).toString('utf8');
  }

  /** What is held back (U+FFFD for a cut character); the decoder starts a new stream. */
  flush() {
    const dec = this._live('decoder');
    const out = {};
    call(this._L.decFlush, dec, out);
    return takeBytes(out).toString('utf8');
  }
}

class Trainer extends Native {
  /** A trainer splitting text with `pattern` (default: cl100k_base's; see namedPattern). */
  constructor(pattern) {
    const L = lib();
    const pat = pattern === undefined || pattern === null ? null : utf8(pattern, 'pattern');
    const out = [null];
    call(L.trNew, pat, pat ? pat.length : 0, out);
    super(out[0], L.trFree);
    this._L = L;
  }

  /** Counts the pieces of one text (a string or UTF-8 bytes). */
  feed(text) {
    const t = this._live('trainer');
    const raw = utf8(text, 'text');
    call(this._L.trFeed, t, raw, raw.length);
  }

  /** Counts the pieces of many texts in parallel; on error nothing of the batch is counted. */
  feedBatch(texts) {
    const t = this._live('trainer');
    const list = slices(texts, 'texts');
    call(this._L.trFeedBatch, t, list.array.length ? list.array : null, list.array.length);
    void list.keep;
  }

  /** The special tokens finish() adds after the merges, in order. */
  setSpecialTokens(tokens) {
    const t = this._live('trainer');
    const list = slices(tokens, 'tokens');
    call(this._L.trSpecials, t, list.array.length ? list.array : null, list.array.length);
    void list.keep;
  }

  /** Threads for feedBatch and finish (0: one per core). */
  setThreads(n) {
    const t = this._live('trainer');
    if (!Number.isInteger(n) || n < 0) throw invalid(`threads must be a non-negative integer, not ${n}`);
    call(this._L.trThreads, t, n);
  }

  /** Trains a vocabulary of vocabSize tokens (256 bytes, merges, special tokens), merge for merge as rustbpe. */
  finish(vocabSize) {
    const t = this._live('trainer');
    if (!Number.isInteger(vocabSize) || vocabSize < 0 || vocabSize > 0xffffffff) {
      throw invalid(`vocabSize must be an integer in 0..2^32-1, not ${vocabSize}`);
    }
    const out = [null];
    call(this._L.trFinish, t, vocabSize, out);
    return new Tokenizer(out[0]);
  }

  /** The piece counts as a count table, for addCounts() on another trainer (count anywhere, train once). */
  exportCounts() {
    const t = this._live('trainer');
    const out = {};
    call(this._L.trExport, t, out);
    return takeBytes(out);
  }

  /** Adds a count table from exportCounts() (of a trainer with the same pattern). */
  addCounts(table) {
    const t = this._live('trainer');
    const raw = utf8(table, 'table');
    call(this._L.trAdd, t, raw, raw.length);
  }
}

module.exports = {
  Tokenizer,
  Trainer,
  StreamDecoder,
  namedPattern,
  get version() {
    return lib().version();
  },
  ABI_VERSION,
  BpekitError,
  NullArgumentError,
  InvalidArgumentError,
  InvalidUtf8Error,
  UnknownTokenError,
  DisallowedSpecialError,
  PatternError,
  RanksError,
  BufferTooSmallError,
  InternalError,
  FormatError,
  IoError,
  ClosedError,
};
