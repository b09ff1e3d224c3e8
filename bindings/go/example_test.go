package bpekit_test

import (
	"fmt"

	bpekit "github.com/bpekit/bpekit/bindings/go"
)

func Example() {
	tr, _ := bpekit.NewTrainer("") // cl100k_base's split pattern
	defer tr.Close()
	tr.FeedBatch([]string{"the cat sat on the mat", "the dog sat on the log"})
	tr.SetSpecialTokens([]string{"<|end|>"})
	tok, _ := tr.Finish(270)
	defer tok.Close()

	ids, _ := tok.Encode("the cat sat<|end|>", bpekit.AllowAllSpecial())
	text, _ := tok.Decode(ids)
	n, _ := tok.Count("the dog sat on the mat")
	fmt.Println(len(ids), text, n)
	// Output: 5 the cat sat<|end|> 8
}

func ExampleTokenizer_Decoder() {
	tr, _ := bpekit.NewTrainer("")
	defer tr.Close()
	tok, _ := tr.Finish(256) // bytes only: "é" is two tokens
	defer tok.Close()
	ids, _ := tok.EncodeOrdinary("café")
	d, _ := tok.Decoder()
	defer d.Close()
	for _, id := range ids {
		part, _ := d.Add(id)
		fmt.Printf("%q ", part)
	}
	rest, _ := d.Flush()
	fmt.Printf("%q\n", rest)
	// Output: "c" "a" "f" "" "é" ""
}
