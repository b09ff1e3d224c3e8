// The Go host's scenario driver: runs cases.txt (argument 1) through bindings/go and
// prints one canonical JSON line per operation (README.md in the directory above).
package main

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	bpekit "github.com/bpekit/bpekit/bindings/go"
)

var names = map[bpekit.Code]string{
	bpekit.ErrNullArg:           "BPEKIT_ERR_NULL_ARG",
	bpekit.ErrInvalidArg:        "BPEKIT_ERR_INVALID_ARG",
	bpekit.ErrInvalidUTF8:       "BPEKIT_ERR_INVALID_UTF8",
	bpekit.ErrUnknownToken:      "BPEKIT_ERR_UNKNOWN_TOKEN",
	bpekit.ErrDisallowedSpecial: "BPEKIT_ERR_DISALLOWED_SPECIAL",
	bpekit.ErrBadPattern:        "BPEKIT_ERR_BAD_PATTERN",
	bpekit.ErrBadRanks:          "BPEKIT_ERR_BAD_RANKS",
	bpekit.ErrBufferTooSmall:    "BPEKIT_ERR_BUFFER_TOO_SMALL",
	bpekit.ErrPanic:             "BPEKIT_ERR_PANIC",
	bpekit.ErrBadFormat:         "BPEKIT_ERR_BAD_FORMAT",
	bpekit.ErrIO:                "BPEKIT_ERR_IO",
}

func fnv(data []byte) string {
	h := uint64(0xcbf29ce484222325)
	for _, b := range data {
		h = (h ^ uint64(b)) * 0x100000001b3
	}
	return fmt.Sprintf("%016x", h)
}

func unhex(arg string) []byte {
	if arg == "-" {
		return nil
	}
	b, err := hex.DecodeString(arg)
	if err != nil {
		panic(err)
	}
	return b
}

func ids(arg string) []uint32 {
	var out []uint32
	for _, f := range strings.Split(arg, ",") {
		n, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			panic(err)
		}
		out = append(out, uint32(n))
	}
	return out
}

func hexs(s string) string { return hex.EncodeToString([]byte(s)) }

func idList(v []uint32) string {
	parts := make([]string, len(v))
	for i, id := range v {
		parts[i] = strconv.FormatUint(uint64(id), 10)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func strList(v []string) string {
	return `["` + strings.Join(v, `","`) + `"]`
}

var policies = map[string][]bpekit.Option{
	"default": nil,
	"all":     {bpekit.AllowAllSpecial()},
	"none":    {bpekit.DisallowSpecial()},
}

type scenario struct {
	pattern  string
	specials []string
	trainer  *bpekit.Trainer
	tok      *bpekit.Tokenizer
}

func (s *scenario) summary(tok *bpekit.Tokenizer) (string, error) {
	file, err := tok.Bytes()
	if err != nil {
		return "", err
	}
	n, _ := tok.VocabSize()
	specials, _ := tok.SpecialTokens()
	type pair struct {
		text string
		id   uint32
	}
	var list []pair
	for t, id := range specials {
		list = append(list, pair{hexs(t), id})
	}
	sort.Slice(list, func(i, j int) bool {
		return list[i].id < list[j].id || (list[i].id == list[j].id && list[i].text < list[j].text)
	})
	parts := make([]string, len(list))
	for i, p := range list {
		parts[i] = fmt.Sprintf(`["%s",%d]`, p.text, p.id)
	}
	return fmt.Sprintf(`{"vocab_size":%d,"file":"%s","specials":[%s]}`, n, fnv(file), strings.Join(parts, ",")), nil
}

func (s *scenario) run(op, arg string) (string, error) {
	switch op {
	case "trainer":
		if strings.HasPrefix(arg, "hex:") {
			s.pattern = string(unhex(arg[4:]))
		} else {
			p, err := bpekit.NamedPattern(arg)
			if err != nil {
				return "", err
			}
			s.pattern = p
		}
		s.specials = nil
		if s.trainer != nil {
			s.trainer.Close()
			s.trainer = nil
		}
		t, err := bpekit.NewTrainer(s.pattern)
		if err != nil {
			return "", err
		}
		s.trainer = t
		return "true", nil
	case "specials":
		var tokens []string
		for _, t := range strings.Split(arg, ",") {
			tokens = append(tokens, string(unhex(t)))
		}
		if err := s.trainer.SetSpecialTokens(tokens); err != nil {
			return "", err
		}
		s.specials = tokens
		return "true", nil
	case "feed":
		return "true", s.trainer.Feed(string(unhex(arg)))
	case "feed_batch":
		var texts []string
		for _, t := range strings.Split(arg, ",") {
			texts = append(texts, string(unhex(t)))
		}
		return "true", s.trainer.FeedBatch(texts)
	case "finish":
		n, _ := strconv.Atoi(arg)
		tok, err := s.trainer.Finish(n)
		if err != nil {
			return "", err
		}
		s.tok = tok
		return s.summary(tok)
	case "encode", "count", "batch":
		policy, data, _ := strings.Cut(arg, " ")
		opts := policies[policy]
		switch op {
		case "encode":
			v, err := s.tok.Encode(string(unhex(data)), opts...)
			return idList(v), err
		case "count":
			n, err := s.tok.Count(string(unhex(data)), opts...)
			return strconv.Itoa(n), err
		}
		var texts []string
		for _, t := range strings.Split(data, ",") {
			texts = append(texts, string(unhex(t)))
		}
		v, err := s.tok.EncodeBatch(texts, 2, opts...)
		if err != nil {
			return "", err
		}
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = idList(x)
		}
		return "[" + strings.Join(parts, ",") + "]", nil
	case "decode":
		raw, err := s.tok.DecodeBytes(ids(arg))
		if err != nil {
			return "", err
		}
		text, err := s.tok.Decode(ids(arg))
		return fmt.Sprintf(`{"bytes":"%s","text":"%s"}`, hex.EncodeToString(raw), hexs(text)), err
	case "stream":
		d, err := s.tok.Decoder()
		if err != nil {
			return "", err
		}
		defer d.Close()
		var out []string
		for _, id := range ids(arg) {
			part, err := d.Add(id)
			if err != nil {
				return "", err
			}
			out = append(out, hexs(part))
		}
		rest, err := d.Flush()
		return strList(append(out, hexs(rest))), err
	case "normalize":
		n := bpekit.NormalizeNone
		if arg == "nfc" {
			n = bpekit.NormalizeNFC
		}
		tok, err := s.tok.WithNormalization(n)
		if err != nil {
			return "", err
		}
		s.tok = tok
		file, _ := tok.Bytes()
		return fmt.Sprintf(`{"file":"%s"}`, fnv(file)), nil
	case "reload":
		data, err := s.tok.Bytes()
		if err != nil {
			return "", err
		}
		tok, err := bpekit.FromBytes(data)
		if err != nil {
			return "", err
		}
		s.tok = tok
		again, _ := tok.Bytes()
		return fmt.Sprintf(`{"file":"%s"}`, fnv(again)), nil
	case "corrupt":
		data, err := s.tok.Bytes()
		if err != nil {
			return "", err
		}
		i, _ := strconv.Atoi(arg)
		data[i] ^= 1
		tok, err := bpekit.FromBytes(data)
		if err != nil {
			return "", err
		}
		defer tok.Close()
		again, _ := tok.Bytes()
		return fmt.Sprintf(`{"file":"%s"}`, fnv(again)), nil
	case "recount":
		table, err := s.trainer.ExportCounts()
		if err != nil {
			return "", err
		}
		again, err := bpekit.NewTrainer(s.pattern)
		if err != nil {
			return "", err
		}
		defer again.Close()
		if len(s.specials) > 0 {
			if err := again.SetSpecialTokens(s.specials); err != nil {
				return "", err
			}
		}
		if err := again.AddCounts(table); err != nil {
			return "", err
		}
		n, _ := strconv.Atoi(arg)
		tok, err := again.Finish(n)
		if err != nil {
			return "", err
		}
		defer tok.Close()
		file, _ := tok.Bytes()
		return fmt.Sprintf(`{"table":"%s","file":"%s"}`, fnv(table), fnv(file)), nil
	}
	panic("unknown op " + op)
}

func main() {
	f, err := os.Open(os.Args[1])
	if err != nil {
		panic(err)
	}
	defer f.Close()
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	var s *scenario
	name, n := "", 0
	lines := bufio.NewScanner(f)
	lines.Buffer(make([]byte, 1<<20), 1<<24)
	for lines.Scan() {
		line := lines.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		op, arg, _ := strings.Cut(line, " ")
		if op == "case" {
			s, name, n = &scenario{}, arg, 0
			continue
		}
		result, err := s.run(op, arg)
		if err != nil {
			var code bpekit.Code
			if !errors.As(err, &code) {
				panic(err)
			}
			fmt.Fprintf(out, "{\"case\":\"%s\",\"op\":%d,\"error\":\"%s\"}\n", name, n, names[code])
		} else {
			fmt.Fprintf(out, "{\"case\":\"%s\",\"op\":%d,\"ok\":%s}\n", name, n, result)
		}
		n++
	}
	if err := lines.Err(); err != nil {
		panic(err)
	}
}
