// Package bpekit is the Go host of bpekit, a byte-level BPE tokenizer: train a
// vocabulary, encode and decode with the same tokens as OpenAI's tiktoken, through
// bpekit's C library (libbpekit), the one core every host shares.
//
// The package uses cgo and links against libbpekit; see README.md for where the
// library and its header come from. Every fallible call returns an error that wraps a
// [Code] (errors.Is(err, bpekit.ErrUnknownToken)) and carries the library's message
// (errors.As with *[Error]).
//
// Concurrency follows the C contract: a [Tokenizer] is immutable and any number of
// goroutines may use one at once; a [Trainer] needs one goroutine at a time (its
// methods lock it, so concurrent calls wait rather than race). Close releases the
// native object; a finalizer releases it too if Close is never called. Calls after
// Close return [ErrClosed].
package bpekit

/*
#include <stdlib.h>
#include <bpekit.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// Code is a status code of the C library (BPEKIT_ERR_*). Each is an error, for
// errors.Is: every error a call returns wraps its Code.
type Code int32

// The library's error codes. New codes may appear in later versions.
const (
	ErrNullArg           Code = C.BPEKIT_ERR_NULL_ARG
	ErrInvalidArg        Code = C.BPEKIT_ERR_INVALID_ARG
	ErrInvalidUTF8       Code = C.BPEKIT_ERR_INVALID_UTF8
	ErrUnknownToken      Code = C.BPEKIT_ERR_UNKNOWN_TOKEN
	ErrDisallowedSpecial Code = C.BPEKIT_ERR_DISALLOWED_SPECIAL
	ErrBadPattern        Code = C.BPEKIT_ERR_BAD_PATTERN
	ErrBadRanks          Code = C.BPEKIT_ERR_BAD_RANKS
	ErrBufferTooSmall    Code = C.BPEKIT_ERR_BUFFER_TOO_SMALL
	ErrPanic             Code = C.BPEKIT_ERR_PANIC
	ErrBadFormat         Code = C.BPEKIT_ERR_BAD_FORMAT
	ErrIO                Code = C.BPEKIT_ERR_IO
)

var codeNames = map[Code]string{
	ErrNullArg:           "null argument",
	ErrInvalidArg:        "invalid argument",
	ErrInvalidUTF8:       "invalid UTF-8",
	ErrUnknownToken:      "unknown token",
	ErrDisallowedSpecial: "disallowed special token",
	ErrBadPattern:        "bad pattern",
	ErrBadRanks:          "bad ranks",
	ErrBufferTooSmall:    "buffer too small",
	ErrPanic:             "internal error",
	ErrBadFormat:         "bad format",
	ErrIO:                "I/O error",
}

func (c Code) Error() string {
	if name, ok := codeNames[c]; ok {
		return "bpekit: " + name
	}
	return fmt.Sprintf("bpekit: error code %d", int32(c))
}

// Error is a failed call: the library's code and message.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return "bpekit: " + e.Message }

// Unwrap gives the Code, so that errors.Is(err, bpekit.ErrUnknownToken) holds.
func (e *Error) Unwrap() error { return e.Code }

// ErrClosed is returned by calls on a closed Tokenizer, Trainer or Decoder.
var ErrClosed = errors.New("bpekit: use of a closed object")

// ErrABIMismatch is returned when the loaded libbpekit is not the ABI this package
// was built against.
var ErrABIMismatch = errors.New("bpekit: the loaded libbpekit has another ABI version than its header")

var abiOnce = sync.OnceValue(func() error {
	if found := C.bpekit_abi_version(); found != C.BPEKIT_ABI_VERSION {
		return fmt.Errorf("%w: library %d, header %d", ErrABIMismatch, uint32(found), uint32(C.BPEKIT_ABI_VERSION))
	}
	return nil
})

// Version is the loaded library's version ("0.1.0").
func Version() string { return C.GoString(C.bpekit_version()) }

// call runs a fallible C call with an error out-parameter and turns a failure into *Error.
func call(f func(err **C.bpekit_error) C.bpekit_status) error {
	var e *C.bpekit_error
	if status := f(&e); status != C.BPEKIT_OK {
		defer C.bpekit_error_free(e)
		msg := C.GoString(C.bpekit_error_message(e))
		if msg == "" {
			msg = Code(status).Error()
		}
		return &Error{Code: Code(status), Message: msg}
	}
	return nil
}

// bytesOf points at the bytes of s for the duration of a call (C never keeps it).
func bytesOf(s string) (*C.uint8_t, C.size_t) {
	if len(s) == 0 {
		return nil, 0
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.StringData(s))), C.size_t(len(s))
}

func sliceOf(b []byte) (*C.uint8_t, C.size_t) {
	if len(b) == 0 {
		return nil, 0
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0])), C.size_t(len(b))
}

// takeTokens copies ids the library allocated and releases them.
func takeTokens(t *C.bpekit_tokens) []uint32 {
	defer C.bpekit_tokens_free(t)
	out := make([]uint32, int(t.len))
	if t.len > 0 {
		copy(out, unsafe.Slice((*uint32)(unsafe.Pointer(t.ids)), int(t.len)))
	}
	return out
}

// takeBytes copies bytes the library allocated and releases them.
func takeBytes(b *C.bpekit_bytes) []byte {
	defer C.bpekit_bytes_free(b)
	if b.len == 0 {
		return []byte{}
	}
	return C.GoBytes(unsafe.Pointer(b.data), C.int(b.len))
}

// slices is an array of bpekit_slice over Go strings, pinned for the call.
type slices struct {
	pin   runtime.Pinner
	array []C.bpekit_slice
}

func newSlices(texts []string) *slices {
	s := &slices{array: make([]C.bpekit_slice, len(texts))}
	for i, t := range texts {
		if len(t) > 0 {
			p := unsafe.StringData(t)
			s.pin.Pin(p)
			s.array[i] = C.bpekit_slice{data: (*C.uint8_t)(unsafe.Pointer(p)), len: C.size_t(len(t))}
		}
	}
	return s
}

func (s *slices) ptr() *C.bpekit_slice {
	if len(s.array) == 0 {
		return nil
	}
	return &s.array[0]
}

func (s *slices) release() { s.pin.Unpin() }

// handle guards a native pointer: calls hold the read lock, Close the write lock, so
// that Close never frees an object a call is using.
type handle struct {
	mu  sync.RWMutex
	ptr unsafe.Pointer
}

// use runs f with the live pointer, or returns ErrClosed.
func (h *handle) use(f func(p unsafe.Pointer) error) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.ptr == nil {
		return ErrClosed
	}
	return f(h.ptr)
}

// useExclusive runs f with the live pointer and no other call on it at the same time
// (for objects the C contract gives to one thread at a time), or returns ErrClosed.
func (h *handle) useExclusive(f func(p unsafe.Pointer) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ptr == nil {
		return ErrClosed
	}
	return f(h.ptr)
}

// close frees the pointer once with free; later calls do nothing.
func (h *handle) close(free func(p unsafe.Pointer)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ptr != nil {
		free(h.ptr)
		h.ptr = nil
	}
}
