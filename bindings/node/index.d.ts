/** Text: a string (well-formed UTF-16), or UTF-8 bytes. */
export type Text = string | Uint8Array;

/** tiktoken's special-token policy. Default: nothing allowed, every special token disallowed. */
export interface SpecialOptions {
  /** Special tokens encoded as their ids: 'all', or the texts. */
  allowedSpecial?: 'all' | Iterable<string>;
  /** Strings whose appearance is an error: 'all' (every special token not allowed; the default), or the strings. */
  disallowedSpecial?: 'all' | Iterable<string>;
}

export interface BatchOptions extends SpecialOptions {
  /** Threads (0, the default: one per core). */
  threads?: number;
}

export interface TiktokenOptions {
  /** The split pattern (default: cl100k_base's). */
  pattern?: string;
  /** Special token text → id. */
  specialTokens?: Record<string, number>;
}

declare class Native {
  /** Whether close() was called. */
  readonly closed: boolean;
  /** Releases the native object now; later calls throw ClosedError. */
  close(): void;
}

export class Tokenizer extends Native {
  private constructor();
  /** Reads a tokenizer file written by save() (by any bpekit host). */
  static load(path: string): Tokenizer;
  /** Reads a tokenizer from a tokenizer file's bytes. */
  static fromBytes(data: Uint8Array): Tokenizer;
  /** A tokenizer from ranks in tiktoken's format. */
  static fromTiktoken(ranks: Text, options?: TiktokenOptions): Tokenizer;
  /** Reads a .tiktoken rank file. */
  static loadTiktoken(path: string, options?: TiktokenOptions): Tokenizer;
  /** A non-owning tokenizer over another's `handle` (e.g. in a worker thread); the owner must stay open. */
  static borrow(handle: bigint): Tokenizer;
  /** The native tokenizer's address, for Tokenizer.borrow; reading it keeps this tokenizer alive until close(). */
  readonly handle: bigint;
  /** 'nfc' or null: the normalization applied to ordinary text before splitting. */
  readonly normalization: 'nfc' | null;
  /** A copy applying `form` to ordinary text before splitting. */
  withNormalization(form: 'nfc' | null): Tokenizer;
  /** tiktoken's encode. Throws DisallowedSpecialError for disallowed special-token text. */
  encode(text: Text, options?: SpecialOptions): Uint32Array;
  /**
   * encode() into `out`, returning the number of ids written (BufferTooSmallError with `needed` if they do not fit).
   * A string needs at most 3 * text.length ids, bytes at most one id per byte (three times as many under NFC).
   */
  encodeInto(text: Text, out: Uint32Array, options?: SpecialOptions): number;
  /** Encodes text, treating special-token text as ordinary text. */
  encodeOrdinary(text: Text): Uint32Array;
  /** The number of tokens encode() would give. */
  count(text: Text, options?: SpecialOptions): number;
  /** Each text encoded as encode() would, in parallel. */
  encodeBatch(texts: Iterable<Text>, options?: BatchOptions): Uint32Array[];
  /** The text of ids; an ill-formed UTF-8 sequence becomes U+FFFD, as in tiktoken. */
  decode(ids: Uint32Array | readonly number[]): string;
  /** The bytes of ids. */
  decodeBytes(ids: Uint32Array | readonly number[]): Buffer;
  /** A stream decoder over this tokenizer. */
  decoder(): StreamDecoder;
  /** Special token text → id. */
  readonly specialTokens: Record<string, number>;
  /** One more than the largest token id. */
  readonly vocabSize: number;
  /** The split pattern. */
  readonly pattern: string;
  /** Saves the tokenizer file atomically. */
  save(path: string): void;
  /** The tokenizer file's bytes. */
  toBytes(): Buffer;
}

export class StreamDecoder extends Native {
  private constructor();
  /** Decodes ids and returns the text they complete (a cut character is held back). */
  add(ids: number | Uint32Array | readonly number[]): string;
  /** What is held back (U+FFFD for a cut character); starts a new stream. */
  flush(): string;
}

export class Trainer extends Native {
  /** A trainer splitting text with `pattern` (default: cl100k_base's). */
  constructor(pattern?: string);
  feed(text: Text): void;
  feedBatch(texts: Iterable<Text>): void;
  setSpecialTokens(tokens: Iterable<string>): void;
  setThreads(n: number): void;
  /** Trains a vocabulary of vocabSize tokens, merge for merge as rustbpe. */
  finish(vocabSize: number): Tokenizer;
  /** The piece counts as a count table. */
  exportCounts(): Buffer;
  /** Adds a count table from exportCounts(). */
  addCounts(table: Uint8Array): void;
}

/** The split pattern of a name (gpt2, cl100k_base, o200k_base, llama3, qwen2, ...). */
export function namedPattern(name: string): string;
/** The loaded library's version. */
export const version: string;
/** The C ABI version this package is written against. */
export const ABI_VERSION: number;

/** A failed call: `code` is the C status name, `status` its number. */
export class BpekitError extends Error {
  readonly code: string;
  readonly status: number;
}
export class NullArgumentError extends BpekitError {}
export class InvalidArgumentError extends BpekitError {}
export class InvalidUtf8Error extends BpekitError {}
export class UnknownTokenError extends BpekitError {}
export class DisallowedSpecialError extends BpekitError {}
export class PatternError extends BpekitError {}
export class RanksError extends BpekitError {}
export class BufferTooSmallError extends BpekitError {
  /** From encodeInto: the number of ids the text needs. */
  readonly needed?: number;
}
export class InternalError extends BpekitError {}
export class FormatError extends BpekitError {}
export class IoError extends BpekitError {}
export class ClosedError extends BpekitError {}
