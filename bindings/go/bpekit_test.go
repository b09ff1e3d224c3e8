package bpekit_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	bpekit "github.com/bpekit/bpekit/bindings/go"
)

var corpus = []string{
	"the cat sat on the mat; the dog sat on the log.",
	"Numbers 12345 and 678, symbols !? and\nnew lines\r\n\tand tabs.",
	"Ünïcödé: naïve café, 日本語のテキスト, emoji 🙂🙂.",
	"the the the cat cat dog <|eos|> is text here",
}

// trained is a small vocabulary trained on corpus with two special tokens.
func trained(t testing.TB) *bpekit.Tokenizer {
	t.Helper()
	tr, err := bpekit.NewTrainer("")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.FeedBatch(corpus); err != nil {
		t.Fatal(err)
	}
	if err := tr.SetSpecialTokens([]string{"<|bos|>", "<|eos|>"}); err != nil {
		t.Fatal(err)
	}
	tok, err := tr.Finish(320)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tok.Close() })
	return tok
}

// must is v, or a panic (which fails the test) on an error.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestTrainEncodeDecodeSaveLoad(t *testing.T) {
	tok := trained(t)
	if n := must(tok.VocabSize()); n != 320 {
		t.Fatalf("vocab size %d", n)
	}
	specials := must(tok.SpecialTokens())
	if !reflect.DeepEqual(specials, map[string]uint32{"<|bos|>": 318, "<|eos|>": 319}) {
		t.Fatalf("specials %v", specials)
	}
	for _, text := range corpus {
		ids := must(tok.EncodeOrdinary(text))
		if got := must(tok.Decode(ids)); got != text {
			t.Fatalf("round trip %q -> %q", text, got)
		}
		if n := must(tok.Count(text, bpekit.DisallowSpecial())); n != len(ids) {
			t.Fatalf("count %d, encode %d", n, len(ids))
		}
	}
	path := filepath.Join(t.TempDir(), "tok.bpekit")
	if err := tok.Save(path); err != nil {
		t.Fatal(err)
	}
	back := must(bpekit.Load(path))
	defer back.Close()
	a, b := must(tok.Bytes()), must(back.Bytes())
	if !reflect.DeepEqual(a, b) {
		t.Fatal("saved and loaded tokenizers differ")
	}
	fromBytes := must(bpekit.FromBytes(a))
	defer fromBytes.Close()
	if p := must(fromBytes.Pattern()); p != must(bpekit.NamedPattern("cl100k_base")) {
		t.Fatalf("pattern %q", p)
	}
}

func TestSpecialTokenPolicies(t *testing.T) {
	tok := trained(t)
	text := "a<|eos|>b"
	_, err := tok.Encode(text)
	if !errors.Is(err, bpekit.ErrDisallowedSpecial) {
		t.Fatalf("default policy: %v", err)
	}
	var e *bpekit.Error
	if !errors.As(err, &e) || !strings.Contains(e.Message, "<|eos|>") {
		t.Fatalf("message: %v", err)
	}
	ids := must(tok.Encode(text, bpekit.AllowSpecial("<|eos|>")))
	if len(ids) != 3 || ids[1] != 319 {
		t.Fatalf("allowed: %v", ids)
	}
	if all := must(tok.Encode(text, bpekit.AllowAllSpecial())); !reflect.DeepEqual(all, ids) {
		t.Fatalf("allow all: %v", all)
	}
	plain := must(tok.Encode(text, bpekit.DisallowSpecial()))
	if !reflect.DeepEqual(plain, must(tok.EncodeOrdinary(text))) {
		t.Fatalf("as text: %v", plain)
	}
	if _, err := tok.Encode("xyz", bpekit.DisallowSpecial("y")); !errors.Is(err, bpekit.ErrDisallowedSpecial) {
		t.Fatalf("custom disallowed: %v", err)
	}
}

func TestBatchEqualsEachText(t *testing.T) {
	tok := trained(t)
	texts := append([]string{""}, corpus...)
	for _, threads := range []int{0, 1, 2} {
		got := must(tok.EncodeBatch(texts, threads, bpekit.AllowAllSpecial()))
		for i, text := range texts {
			want := must(tok.Encode(text, bpekit.AllowAllSpecial()))
			if !reflect.DeepEqual(got[i], want) {
				t.Fatalf("threads %d text %d: %v vs %v", threads, i, got[i], want)
			}
		}
	}
	_, err := tok.EncodeBatch([]string{"ok", "bad <|eos|>"}, 1)
	if !errors.Is(err, bpekit.ErrDisallowedSpecial) || !strings.Contains(err.Error(), "1") {
		t.Fatalf("batch error: %v", err)
	}
	if _, err := tok.EncodeBatch(texts, -1); !errors.Is(err, bpekit.ErrInvalidArg) {
		t.Fatalf("negative threads: %v", err)
	}
}

func TestStreamDecoder(t *testing.T) {
	tok := trained(t)
	text := corpus[2]
	ids := must(tok.EncodeOrdinary(text))
	d := must(tok.Decoder())
	defer d.Close()
	var sb strings.Builder
	for _, id := range ids {
		part := must(d.Add(id))
		if strings.ContainsRune(part, '\uFFFD') {
			t.Fatalf("a cut character came out: %q", part)
		}
		sb.WriteString(part)
	}
	sb.WriteString(must(d.Flush()))
	if sb.String() != text {
		t.Fatalf("stream %q", sb.String())
	}
	// A cut character decodes to U+FFFD, as tiktoken's decode does; its bytes stay raw.
	tr := must(bpekit.NewTrainer(""))
	defer tr.Close()
	bytesOnly := must(tr.Finish(256))
	defer bytesOnly.Close()
	cut := must(bytesOnly.EncodeOrdinary("é"))
	if len(cut) != 2 || must(bytesOnly.Decode(cut[:1])) != "\uFFFD" || len(must(bytesOnly.DecodeBytes(cut[:1]))) != 1 {
		t.Fatalf("cut character: %v", cut)
	}
}

func TestCountsFromManyTrainersGiveTheSameVocabulary(t *testing.T) {
	pattern := must(bpekit.NamedPattern("llama3"))
	one := must(bpekit.NewTrainer(pattern))
	defer one.Close()
	if err := one.FeedBatch(corpus); err != nil {
		t.Fatal(err)
	}
	merged := must(bpekit.NewTrainer(pattern))
	defer merged.Close()
	for _, half := range [][]string{corpus[:2], corpus[2:]} {
		worker := must(bpekit.NewTrainer(pattern))
		for _, text := range half {
			if err := worker.Feed(text); err != nil {
				t.Fatal(err)
			}
		}
		if err := merged.AddCounts(must(worker.ExportCounts())); err != nil {
			t.Fatal(err)
		}
		worker.Close()
	}
	a, b := must(one.Finish(300)), must(merged.Finish(300))
	defer a.Close()
	defer b.Close()
	if !reflect.DeepEqual(must(a.Bytes()), must(b.Bytes())) {
		t.Fatal("merged counts trained another vocabulary")
	}
	if err := merged.AddCounts([]byte("not a table")); !errors.Is(err, bpekit.ErrBadFormat) {
		t.Fatalf("damaged table: %v", err)
	}
}

func TestBadInputIsAnErrorNeverACrash(t *testing.T) {
	tok := trained(t)
	if _, err := tok.EncodeOrdinary("bad \xff utf-8"); !errors.Is(err, bpekit.ErrInvalidUTF8) {
		t.Fatalf("invalid UTF-8: %v", err)
	}
	if _, err := tok.Decode([]uint32{5, 1 << 30}); !errors.Is(err, bpekit.ErrUnknownToken) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := bpekit.NewTrainer("(unclosed"); !errors.Is(err, bpekit.ErrBadPattern) {
		t.Fatalf("bad pattern: %v", err)
	}
	if _, err := bpekit.NamedPattern("nope"); !errors.Is(err, bpekit.ErrInvalidArg) {
		t.Fatalf("unknown name: %v", err)
	}
	data := must(tok.Bytes())
	data[len(data)/2] ^= 1
	if _, err := bpekit.FromBytes(data); !errors.Is(err, bpekit.ErrBadFormat) {
		t.Fatalf("damaged file: %v", err)
	}
	if _, err := bpekit.Load(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, bpekit.ErrIO) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := bpekit.FromTiktoken([]byte("not base64 at all\n"), "", nil); !errors.Is(err, bpekit.ErrBadRanks) {
		t.Fatalf("bad ranks: %v", err)
	}
	// A failed save leaves no file behind.
	dir := t.TempDir()
	if err := tok.Save(filepath.Join(dir, "no", "such", "dir", "tok.bpekit")); !errors.Is(err, bpekit.ErrIO) {
		t.Fatalf("save into a missing directory: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
	// Closed objects.
	closed := must(bpekit.FromBytes(must(tok.Bytes())))
	d := must(closed.Decoder())
	closed.Close()
	closed.Close()
	if _, err := closed.EncodeOrdinary("x"); !errors.Is(err, bpekit.ErrClosed) {
		t.Fatalf("closed tokenizer: %v", err)
	}
	if _, err := d.Add(1); !errors.Is(err, bpekit.ErrClosed) {
		t.Fatalf("decoder of a closed tokenizer: %v", err)
	}
	d.Close()
	if _, err := d.Flush(); !errors.Is(err, bpekit.ErrClosed) {
		t.Fatalf("closed decoder: %v", err)
	}
	tr := must(bpekit.NewTrainer(""))
	tr.Close()
	if err := tr.Feed("x"); !errors.Is(err, bpekit.ErrClosed) {
		t.Fatalf("closed trainer: %v", err)
	}
}

// NFC can make a text longer than its bytes (U+1D160: 4 bytes, 12 after NFC): every
// encode path still gives the ids (the short-text buffer is then too small).
func TestNormalizingTokenizer(t *testing.T) {
	tok := trained(t)
	nfc := must(tok.WithNormalization(bpekit.NormalizeNFC))
	defer nfc.Close()
	if n := must(nfc.Normalization()); n != bpekit.NormalizeNFC {
		t.Fatalf("normalization %d", n)
	}
	if n := must(tok.Normalization()); n != bpekit.NormalizeNone {
		t.Fatalf("original changed: %d", n)
	}
	for _, text := range []string{"\U0001D160", strings.Repeat("\U0001D160", 400), "cafe\u0301"} {
		ids := must(nfc.EncodeOrdinary(text))
		all := must(nfc.Encode(text, bpekit.AllowAllSpecial()))
		batch := must(nfc.EncodeBatch([]string{text}, 1))
		if !reflect.DeepEqual(ids, all) || !reflect.DeepEqual(ids, batch[0]) || len(ids) != must(nfc.Count(text)) {
			t.Fatalf("paths differ on %q", text)
		}
	}
	if got := must(nfc.Decode(must(nfc.EncodeOrdinary("cafe\u0301")))); got != "caf\u00e9" {
		t.Fatalf("decoded %q", got)
	}
	if _, err := tok.WithNormalization(7); !errors.Is(err, bpekit.ErrInvalidArg) {
		t.Fatalf("unknown normalization: %v", err)
	}
}

// One tokenizer shared by 8 goroutines gives each the ids it gives alone; closing it
// while they run makes their later calls fail with ErrClosed, never crash.
func TestSharedAcrossGoroutines(t *testing.T) {
	tok := trained(t)
	texts := make([]string, 64)
	want := make([][]uint32, len(texts))
	for i := range texts {
		texts[i] = strings.Repeat(corpus[i%len(corpus)], 1+i%5)
		want[i] = must(tok.EncodeOrdinary(texts[i]))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for round := 0; round < 20; round++ {
				for i := g; i < len(texts); i += 8 {
					got, err := tok.EncodeOrdinary(texts[i])
					if err != nil || !reflect.DeepEqual(got, want[i]) {
						errs <- errors.New("goroutine got other ids")
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	victim := must(bpekit.FromBytes(must(tok.Bytes())))
	var racing sync.WaitGroup
	for g := 0; g < 8; g++ {
		racing.Add(1)
		go func() {
			defer racing.Done()
			for i := 0; i < 200; i++ {
				if _, err := victim.EncodeOrdinary(texts[i%len(texts)]); err != nil && !errors.Is(err, bpekit.ErrClosed) {
					t.Errorf("racing close: %v", err)
					return
				}
			}
		}()
	}
	victim.Close()
	racing.Wait()
}

func dataDir() string {
	if d := os.Getenv("BPEKIT_DATA"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "data")
}

// The real cl100k_base ranks give tiktoken's ids.
func TestCl100kFromTheSharedData(t *testing.T) {
	path := filepath.Join(dataDir(), "cl100k_base.tiktoken")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no %s (set BPEKIT_DATA)", path)
	}
	pattern := must(bpekit.NamedPattern("cl100k_base"))
	tok := must(bpekit.LoadTiktoken(path, pattern, map[string]uint32{"<|endoftext|>": 100257}))
	defer tok.Close()
	ids := must(tok.Encode("hello world<|endoftext|>", bpekit.AllowAllSpecial()))
	if !reflect.DeepEqual(ids, []uint32{15339, 1917, 100257}) {
		t.Fatalf("ids %v", ids)
	}
}
