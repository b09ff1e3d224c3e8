package bpekit

/*
#include <stdlib.h>
#include <bpekit.h>
*/
import "C"

import (
	"os"
	"runtime"
	"unsafe"
)

// Tokenizer encodes and decodes: ranks, a split pattern and special tokens. It is
// immutable; any number of goroutines may use one at once.
type Tokenizer struct {
	h handle
}

func newTokenizer(p *C.bpekit_tokenizer) *Tokenizer {
	t := &Tokenizer{h: handle{ptr: unsafe.Pointer(p)}}
	runtime.SetFinalizer(t, (*Tokenizer).Close)
	return t
}

// Close releases the tokenizer. Later calls return ErrClosed; closing twice is harmless.
func (t *Tokenizer) Close() error {
	t.h.close(func(p unsafe.Pointer) { C.bpekit_tokenizer_free((*C.bpekit_tokenizer)(p)) })
	runtime.SetFinalizer(t, nil)
	return nil
}

// with runs f on the live tokenizer.
func (t *Tokenizer) with(f func(p *C.bpekit_tokenizer) error) error {
	defer runtime.KeepAlive(t)
	return t.h.use(func(p unsafe.Pointer) error { return f((*C.bpekit_tokenizer)(p)) })
}

func construct(f func(out **C.bpekit_tokenizer, err **C.bpekit_error) C.bpekit_status) (*Tokenizer, error) {
	if err := abiOnce(); err != nil {
		return nil, err
	}
	var out *C.bpekit_tokenizer
	if err := call(func(e **C.bpekit_error) C.bpekit_status { return f(&out, e) }); err != nil {
		return nil, err
	}
	return newTokenizer(out), nil
}

// Load reads a tokenizer file written by Save (or by any bpekit host).
func Load(path string) (*Tokenizer, error) {
	p, n := bytesOf(path)
	return construct(func(out **C.bpekit_tokenizer, e **C.bpekit_error) C.bpekit_status {
		return C.bpekit_tokenizer_load(p, n, out, e)
	})
}

// FromBytes reads a tokenizer from the bytes of a tokenizer file (Bytes gives them).
func FromBytes(data []byte) (*Tokenizer, error) {
	p, n := sliceOf(data)
	return construct(func(out **C.bpekit_tokenizer, e **C.bpekit_error) C.bpekit_status {
		return C.bpekit_tokenizer_from_bytes(p, n, out, e)
	})
}

// FromTiktoken builds a tokenizer from ranks in tiktoken's format (a .tiktoken file's
// contents), a split pattern ("" for the default, cl100k_base's) and special tokens.
func FromTiktoken(ranks []byte, pattern string, specials map[string]uint32) (*Tokenizer, error) {
	names := make([]string, 0, len(specials))
	for text := range specials {
		names = append(names, text)
	}
	s := newSlices(names)
	defer s.release()
	list := make([]C.bpekit_special_token, len(names))
	for i, text := range names {
		list[i] = C.bpekit_special_token{text: s.array[i], id: C.uint32_t(specials[text])}
	}
	var listPtr *C.bpekit_special_token
	if len(list) > 0 {
		listPtr = &list[0]
		s.pin.Pin(listPtr)
	}
	rp, rn := sliceOf(ranks)
	pp, pn := bytesOf(pattern)
	return construct(func(out **C.bpekit_tokenizer, e **C.bpekit_error) C.bpekit_status {
		return C.bpekit_tokenizer_new(rp, rn, pp, pn, listPtr, C.size_t(len(list)), out, e)
	})
}

// LoadTiktoken reads a .tiktoken rank file (see FromTiktoken).
func LoadTiktoken(path, pattern string, specials map[string]uint32) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Code: ErrIO, Message: err.Error()}
	}
	return FromTiktoken(data, pattern, specials)
}

// NamedPattern is the split pattern of a name: gpt2, r50k_base, p50k_base,
// cl100k_base, o200k_base, rustbpe, nanochat, llama3, qwen2, deepseek_v3.
func NamedPattern(name string) (string, error) {
	var data *C.uint8_t
	var n C.size_t
	p, pn := bytesOf(name)
	if err := call(func(e **C.bpekit_error) C.bpekit_status { return C.bpekit_pattern_named(p, pn, &data, &n, e) }); err != nil {
		return "", err
	}
	return C.GoStringN((*C.char)(unsafe.Pointer(data)), C.int(n)), nil
}

// Option sets how Encode, Count and EncodeBatch treat special-token text. With none,
// they behave as tiktoken's encode by default: special-token text is an error
// (ErrDisallowedSpecial).
type Option func(*policy)

type policy struct {
	allowed, disallowed    []string
	allowAll, disallowSome bool
}

// AllowSpecial encodes these special tokens' text as their ids.
func AllowSpecial(texts ...string) Option {
	return func(p *policy) { p.allowed = append(p.allowed, texts...) }
}

// AllowAllSpecial encodes every special token's text as its id.
func AllowAllSpecial() Option { return func(p *policy) { p.allowAll = true } }

// DisallowSpecial makes only these strings errors (instead of every special token not
// allowed); with none, special-token text that is not allowed is ordinary text.
func DisallowSpecial(texts ...string) Option {
	return func(p *policy) { p.disallowSome = true; p.disallowed = append(p.disallowed, texts...) }
}

// cPolicy is a policy laid out for the C call, its Go memory pinned until release.
type cPolicy struct {
	c                   C.bpekit_special_policy
	allowed, disallowed *slices
}

func makePolicy(opts []Option) *cPolicy {
	var p policy
	for _, o := range opts {
		o(&p)
	}
	cp := &cPolicy{allowed: newSlices(p.allowed), disallowed: newSlices(p.disallowed)}
	if p.allowAll {
		cp.c.flags |= C.BPEKIT_SPECIAL_ALLOW_ALL
	}
	if !p.disallowSome {
		cp.c.flags |= C.BPEKIT_SPECIAL_DISALLOW_ALL
	}
	for _, s := range []*slices{cp.allowed, cp.disallowed} {
		if len(s.array) > 0 {
			s.pin.Pin(&s.array[0])
		}
	}
	cp.c.allowed, cp.c.n_allowed = cp.allowed.ptr(), C.size_t(len(p.allowed))
	cp.c.disallowed, cp.c.n_disallowed = cp.disallowed.ptr(), C.size_t(len(p.disallowed))
	return cp
}

func (cp *cPolicy) release() {
	cp.allowed.release()
	cp.disallowed.release()
}

// Texts up to this many bytes are encoded into a Go buffer with room for one id per
// byte (too small only if the tokenizer normalizes: NFC can lengthen a text, and the
// general path then runs), in one C call; longer ones
// into ids the library allocates, copied out (a buffer of their byte count would
// waste memory).
const smallText = 4096

// The two constant policies of the short-text path, in C memory (cgo's checks treat a
// Go struct with pointer fields as holding Go pointers, even nil ones).
var ordinaryPolicy, allPolicy = func() (*C.bpekit_special_policy, *C.bpekit_special_policy) {
	p := (*[2]C.bpekit_special_policy)(C.calloc(2, C.sizeof_bpekit_special_policy))
	p[1].flags = C.BPEKIT_SPECIAL_ALLOW_ALL | C.BPEKIT_SPECIAL_DISALLOW_ALL
	return &p[0], &p[1]
}()

// encodeSmall encodes a short text under policy with no error object; ok is false if
// the call failed (the caller repeats it on the general path, which reports why).
func (t *Tokenizer) encodeSmall(text string, policy *C.bpekit_special_policy) (ids []uint32, ok bool) {
	buf := make([]uint32, len(text)+1)
	var n C.size_t
	t.with(func(p *C.bpekit_tokenizer) error {
		tp, tn := bytesOf(text)
		st := C.bpekit_tokenizer_encode_into(p, tp, tn, policy, (*C.uint32_t)(unsafe.Pointer(&buf[0])),
			C.size_t(len(buf)), &n, nil)
		ok = st == C.BPEKIT_OK
		return nil
	})
	if !ok {
		// (On BUFFER_TOO_SMALL, which a normalizing tokenizer can give, n is the count
		// needed, beyond buf.)
		return nil, false
	}
	return buf[:n:n], true
}

// Encode encodes text with tiktoken's encode semantics under the options.
func (t *Tokenizer) Encode(text string, opts ...Option) ([]uint32, error) {
	if len(text) <= smallText && len(opts) == 1 {
		var probe policy
		opts[0](&probe)
		if probe.allowAll && !probe.disallowSome && probe.allowed == nil {
			if ids, ok := t.encodeSmall(text, allPolicy); ok {
				return ids, nil
			}
		}
	}
	cp := makePolicy(opts)
	defer cp.release()
	var ids []uint32
	err := t.with(func(p *C.bpekit_tokenizer) error {
		var out C.bpekit_tokens
		tp, tn := bytesOf(text)
		if err := call(func(e **C.bpekit_error) C.bpekit_status {
			return C.bpekit_tokenizer_encode(p, tp, tn, &cp.c, &out, e)
		}); err != nil {
			return err
		}
		ids = takeTokens(&out)
		return nil
	})
	return ids, err
}

// EncodeOrdinary encodes text, treating special-token text as ordinary text.
func (t *Tokenizer) EncodeOrdinary(text string) ([]uint32, error) {
	if len(text) <= smallText {
		if ids, ok := t.encodeSmall(text, ordinaryPolicy); ok {
			return ids, nil
		}
	}
	var ids []uint32
	err := t.with(func(p *C.bpekit_tokenizer) error {
		var out C.bpekit_tokens
		tp, tn := bytesOf(text)
		if err := call(func(e **C.bpekit_error) C.bpekit_status {
			return C.bpekit_tokenizer_encode_ordinary(p, tp, tn, &out, e)
		}); err != nil {
			return err
		}
		ids = takeTokens(&out)
		return nil
	})
	return ids, err
}

// Count is the number of tokens Encode would give, without building them.
func (t *Tokenizer) Count(text string, opts ...Option) (int, error) {
	cp := makePolicy(opts)
	defer cp.release()
	var n C.size_t
	err := t.with(func(p *C.bpekit_tokenizer) error {
		tp, tn := bytesOf(text)
		return call(func(e **C.bpekit_error) C.bpekit_status {
			return C.bpekit_tokenizer_count(p, tp, tn, &cp.c, &n, e)
		})
	})
	return int(n), err
}

// EncodeBatch encodes texts in parallel on threads threads (0: one per core), each as
// Encode would; the result's slices share one array. An error names the first text
// that failed.
func (t *Tokenizer) EncodeBatch(texts []string, threads int, opts ...Option) ([][]uint32, error) {
	if threads < 0 {
		return nil, &Error{Code: ErrInvalidArg, Message: "threads must not be negative"}
	}
	cp := makePolicy(opts)
	defer cp.release()
	s := newSlices(texts)
	defer s.release()
	if len(s.array) > 0 {
		s.pin.Pin(&s.array[0])
	}
	var out [][]uint32
	err := t.with(func(p *C.bpekit_tokenizer) error {
		var ids C.bpekit_tokens
		var offsets C.bpekit_offsets
		if err := call(func(e **C.bpekit_error) C.bpekit_status {
			return C.bpekit_tokenizer_encode_batch(p, s.ptr(), C.size_t(len(texts)), &cp.c, C.size_t(threads), &ids, &offsets, e)
		}); err != nil {
			return err
		}
		defer C.bpekit_offsets_free(&offsets)
		flat := takeTokens(&ids)
		at := unsafe.Slice((*C.size_t)(unsafe.Pointer(offsets.data)), int(offsets.len))
		out = make([][]uint32, len(texts))
		for i := range out {
			out[i] = flat[at[i]:at[i+1]:at[i+1]]
		}
		return nil
	})
	return out, err
}

// DecodeBytes is the bytes of ids, concatenated (they need not be UTF-8: a token may
// hold part of a character). ErrUnknownToken names the first id the tokenizer lacks.
func (t *Tokenizer) DecodeBytes(ids []uint32) ([]byte, error) {
	var b []byte
	err := t.with(func(p *C.bpekit_tokenizer) error {
		var out C.bpekit_bytes
		if err := call(func(e **C.bpekit_error) C.bpekit_status {
			return C.bpekit_tokenizer_decode(p, idsPtr(ids), C.size_t(len(ids)), &out, e)
		}); err != nil {
			return err
		}
		b = takeBytes(&out)
		return nil
	})
	return b, err
}

// Decode is the text of ids, each ill-formed UTF-8 sequence replaced by U+FFFD as
// tiktoken's decode (Python's errors="replace") does.
func (t *Tokenizer) Decode(ids []uint32) (string, error) {
	d, err := t.Decoder()
	if err != nil {
		return "", err
	}
	defer d.Close()
	head, err := d.Add(ids...)
	if err != nil {
		return "", err
	}
	tail, err := d.Flush()
	return head + tail, err
}

func idsPtr(ids []uint32) *C.uint32_t {
	if len(ids) == 0 {
		return nil
	}
	return (*C.uint32_t)(unsafe.Pointer(&ids[0]))
}

// SpecialTokens is the special tokens' text → id (a new map).
func (t *Tokenizer) SpecialTokens() (map[string]uint32, error) {
	out := map[string]uint32{}
	err := t.with(func(p *C.bpekit_tokenizer) error {
		n := C.bpekit_tokenizer_special_count(p)
		for i := C.size_t(0); i < n; i++ {
			var data *C.uint8_t
			var size C.size_t
			var id C.uint32_t
			if err := call(func(e **C.bpekit_error) C.bpekit_status {
				return C.bpekit_tokenizer_special_token(p, i, &data, &size, &id, e)
			}); err != nil {
				return err
			}
			out[C.GoStringN((*C.char)(unsafe.Pointer(data)), C.int(size))] = uint32(id)
		}
		return nil
	})
	return out, err
}

// VocabSize is one more than the largest token id (tiktoken's n_vocab).
func (t *Tokenizer) VocabSize() (int, error) {
	var n C.size_t
	err := t.with(func(p *C.bpekit_tokenizer) error { n = C.bpekit_tokenizer_vocab_size(p); return nil })
	return int(n), err
}

// Pattern is the split pattern.
func (t *Tokenizer) Pattern() (string, error) {
	var s string
	err := t.with(func(p *C.bpekit_tokenizer) error {
		var data *C.uint8_t
		var n C.size_t
		if err := call(func(e **C.bpekit_error) C.bpekit_status { return C.bpekit_tokenizer_pattern(p, &data, &n, e) }); err != nil {
			return err
		}
		s = C.GoStringN((*C.char)(unsafe.Pointer(data)), C.int(n))
		return nil
	})
	return s, err
}

// Save writes the tokenizer file atomically: on any failure an existing file is left
// as it was and nothing partial remains.
func (t *Tokenizer) Save(path string) error {
	return t.with(func(p *C.bpekit_tokenizer) error {
		pp, pn := bytesOf(path)
		return call(func(e **C.bpekit_error) C.bpekit_status { return C.bpekit_tokenizer_save(p, pp, pn, e) })
	})
}

// Bytes is the tokenizer file's contents (FromBytes reads them).
func (t *Tokenizer) Bytes() ([]byte, error) {
	var b []byte
	err := t.with(func(p *C.bpekit_tokenizer) error {
		var out C.bpekit_bytes
		if err := call(func(e **C.bpekit_error) C.bpekit_status { return C.bpekit_tokenizer_to_bytes(p, &out, e) }); err != nil {
			return err
		}
		b = takeBytes(&out)
		return nil
	})
	return b, err
}

// Decoder decodes a stream of ids as they come (a server emitting tokens one by one):
// Add returns the text that became complete, holding back a character cut between
// tokens; Flush ends the stream.
type Decoder struct {
	h   handle
	tok *Tokenizer
}

// Decoder starts a stream decoder over t, in tiktoken's replace mode.
func (t *Tokenizer) Decoder() (*Decoder, error) {
	if err := t.with(func(*C.bpekit_tokenizer) error { return nil }); err != nil {
		return nil, err
	}
	var out *C.bpekit_stream_decoder
	if err := call(func(e **C.bpekit_error) C.bpekit_status {
		return C.bpekit_stream_decoder_new(C.BPEKIT_UTF8_REPLACE, &out, e)
	}); err != nil {
		return nil, err
	}
	d := &Decoder{h: handle{ptr: unsafe.Pointer(out)}, tok: t}
	runtime.SetFinalizer(d, (*Decoder).Close)
	return d, nil
}

// Add decodes ids and returns the text they complete.
func (d *Decoder) Add(ids ...uint32) (string, error) {
	var s string
	defer runtime.KeepAlive(d)
	err := d.h.useExclusive(func(dp unsafe.Pointer) error {
		return d.tok.with(func(p *C.bpekit_tokenizer) error {
			var out C.bpekit_bytes
			if err := call(func(e **C.bpekit_error) C.bpekit_status {
				return C.bpekit_stream_decoder_add((*C.bpekit_stream_decoder)(dp), p, idsPtr(ids), C.size_t(len(ids)), &out, e)
			}); err != nil {
				return err
			}
			s = string(takeBytes(&out))
			return nil
		})
	})
	return s, err
}

// Flush returns what is held back (U+FFFD for a cut character) and starts a new stream.
func (d *Decoder) Flush() (string, error) {
	var s string
	defer runtime.KeepAlive(d)
	err := d.h.useExclusive(func(dp unsafe.Pointer) error {
		var out C.bpekit_bytes
		if err := call(func(e **C.bpekit_error) C.bpekit_status {
			return C.bpekit_stream_decoder_flush((*C.bpekit_stream_decoder)(dp), &out, e)
		}); err != nil {
			return err
		}
		s = string(takeBytes(&out))
		return nil
	})
	return s, err
}

// Close releases the decoder.
func (d *Decoder) Close() error {
	d.h.close(func(p unsafe.Pointer) { C.bpekit_stream_decoder_free((*C.bpekit_stream_decoder)(p)) })
	runtime.SetFinalizer(d, nil)
	return nil
}

// Normalization is the Unicode normalization a tokenizer applies to ordinary text
// before splitting it (a tokenizer file records it).
type Normalization uint32

const (
	// NormalizeNone: the text is split as given (every OpenAI encoding).
	NormalizeNone Normalization = C.BPEKIT_NORMALIZE_NONE
	// NormalizeNFC: canonical composition first (HF tokenizer.json's NFC normalizer, as
	// in Qwen's). Special tokens are found in the text as given; decoding gives the
	// normalized text.
	NormalizeNFC Normalization = C.BPEKIT_NORMALIZE_NFC
)

// Normalization is the tokenizer's normalization.
func (t *Tokenizer) Normalization() (Normalization, error) {
	var n Normalization
	err := t.with(func(p *C.bpekit_tokenizer) error {
		n = Normalization(C.bpekit_tokenizer_normalization(p))
		return nil
	})
	return n, err
}

// WithNormalization is a copy of the tokenizer that applies n (t is unchanged).
func (t *Tokenizer) WithNormalization(n Normalization) (*Tokenizer, error) {
	var out *C.bpekit_tokenizer
	err := t.with(func(p *C.bpekit_tokenizer) error {
		return call(func(e **C.bpekit_error) C.bpekit_status {
			return C.bpekit_tokenizer_with_normalization(p, C.uint32_t(n), &out, e)
		})
	})
	if err != nil {
		return nil, err
	}
	return newTokenizer(out), nil
}
