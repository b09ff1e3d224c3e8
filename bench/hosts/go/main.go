// The Go host of bench/host_bench.py; the same commands as bench.c. Usage: bench_go
// TOKENIZER TEXT
package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	bpekit "github.com/bpekit/bpekit/bindings/go"
)

func main() {
	tok, err := bpekit.Load(os.Args[1])
	if err != nil {
		panic(err)
	}
	data, err := os.ReadFile(os.Args[2])
	if err != nil {
		panic(err)
	}
	text := string(data)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "big", "tokens":
			t0 := time.Now()
			ids, err := tok.EncodeOrdinary(text)
			if err != nil {
				panic(err)
			}
			dt := time.Since(t0).Seconds()
			if in.Text() == "big" {
				fmt.Printf("%.9f\n", dt)
			} else {
				fmt.Println(len(ids))
			}
		case "short":
			const calls = 20000
			t0 := time.Now()
			for i := 0; i < calls; i++ {
				if _, err := tok.EncodeOrdinary("hello world"); err != nil {
					panic(err)
				}
			}
			fmt.Printf("%.3f\n", float64(time.Since(t0).Nanoseconds())/calls)
		default:
			os.Exit(2)
		}
	}
}
