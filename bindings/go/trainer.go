package bpekit

/*
#include <bpekit.h>
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// Trainer learns a vocabulary: feed it texts (or count tables from other machines),
// then Finish. Its methods take turns: calls from several goroutines wait for each other.
type Trainer struct {
	h handle
}

// NewTrainer starts a trainer that splits text with pattern ("" for the default,
// cl100k_base's; a name's pattern comes from NamedPattern).
func NewTrainer(pattern string) (*Trainer, error) {
	if err := abiOnce(); err != nil {
		return nil, err
	}
	var out *C.bpekit_trainer
	pp, pn := bytesOf(pattern)
	if err := call(func(e **C.bpekit_error) C.bpekit_status { return C.bpekit_trainer_new(pp, pn, &out, e) }); err != nil {
		return nil, err
	}
	t := &Trainer{h: handle{ptr: unsafe.Pointer(out)}}
	runtime.SetFinalizer(t, (*Trainer).Close)
	return t, nil
}

// Close releases the trainer. Later calls return ErrClosed; closing twice is harmless.
func (t *Trainer) Close() error {
	t.h.close(func(p unsafe.Pointer) { C.bpekit_trainer_free((*C.bpekit_trainer)(p)) })
	runtime.SetFinalizer(t, nil)
	return nil
}

func (t *Trainer) with(f func(p *C.bpekit_trainer) error) error {
	defer runtime.KeepAlive(t)
	return t.h.useExclusive(func(p unsafe.Pointer) error { return f((*C.bpekit_trainer)(p)) })
}

// Feed counts the pieces of one text.
func (t *Trainer) Feed(text string) error {
	return t.with(func(p *C.bpekit_trainer) error {
		tp, tn := bytesOf(text)
		return call(func(e **C.bpekit_error) C.bpekit_status { return C.bpekit_trainer_feed(p, tp, tn, e) })
	})
}

// FeedBatch counts the pieces of many texts in parallel. An error names the first bad
// text, and nothing of the batch is counted.
func (t *Trainer) FeedBatch(texts []string) error {
	s := newSlices(texts)
	defer s.release()
	if len(s.array) > 0 {
		s.pin.Pin(&s.array[0])
	}
	return t.with(func(p *C.bpekit_trainer) error {
		return call(func(e **C.bpekit_error) C.bpekit_status {
			return C.bpekit_trainer_feed_batch(p, s.ptr(), C.size_t(len(texts)), e)
		})
	})
}

// SetSpecialTokens sets the special tokens Finish adds after the merges, in order.
func (t *Trainer) SetSpecialTokens(tokens []string) error {
	s := newSlices(tokens)
	defer s.release()
	if len(s.array) > 0 {
		s.pin.Pin(&s.array[0])
	}
	return t.with(func(p *C.bpekit_trainer) error {
		return call(func(e **C.bpekit_error) C.bpekit_status {
			return C.bpekit_trainer_set_special_tokens(p, s.ptr(), C.size_t(len(tokens)), e)
		})
	})
}

// SetThreads sets the threads FeedBatch and Finish use (0: one per core).
func (t *Trainer) SetThreads(n int) error {
	if n < 0 {
		return &Error{Code: ErrInvalidArg, Message: "threads must not be negative"}
	}
	return t.with(func(p *C.bpekit_trainer) error {
		return call(func(e **C.bpekit_error) C.bpekit_status { return C.bpekit_trainer_set_threads(p, C.size_t(n), e) })
	})
}

// Finish trains a vocabulary of vocabSize tokens (256 bytes, merges, special tokens),
// merge for merge as rustbpe does. The trainer stays usable.
func (t *Trainer) Finish(vocabSize int) (*Tokenizer, error) {
	if vocabSize < 0 || vocabSize > int(^uint32(0)) {
		return nil, &Error{Code: ErrInvalidArg, Message: "vocabSize out of range"}
	}
	var out *C.bpekit_tokenizer
	err := t.with(func(p *C.bpekit_trainer) error {
		return call(func(e **C.bpekit_error) C.bpekit_status {
			return C.bpekit_trainer_finish(p, C.uint32_t(vocabSize), &out, e)
		})
	})
	if err != nil {
		return nil, err
	}
	return newTokenizer(out), nil
}

// ExportCounts is the trainer's piece counts as a count table, for AddCounts on
// another trainer (count on many machines, train once).
func (t *Trainer) ExportCounts() ([]byte, error) {
	var b []byte
	err := t.with(func(p *C.bpekit_trainer) error {
		var out C.bpekit_bytes
		if err := call(func(e **C.bpekit_error) C.bpekit_status { return C.bpekit_trainer_export_counts(p, &out, e) }); err != nil {
			return err
		}
		b = takeBytes(&out)
		return nil
	})
	return b, err
}

// AddCounts adds a count table made by ExportCounts (its pattern must be this
// trainer's). ErrBadFormat for a damaged table, which adds nothing.
func (t *Trainer) AddCounts(table []byte) error {
	return t.with(func(p *C.bpekit_trainer) error {
		dp, dn := sliceOf(table)
		return call(func(e **C.bpekit_error) C.bpekit_status { return C.bpekit_trainer_add_counts(p, dp, dn, e) })
	})
}
