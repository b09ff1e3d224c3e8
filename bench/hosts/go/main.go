// The Go line of bench/host_bench.py. Usage: bench TOKENIZER TEXT REPEAT
package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	bpekit "github.com/bpekit/bpekit/bindings/go"
)

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

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
	repeat, _ := strconv.Atoi(os.Args[3])
	var times []float64
	n := 0
	for r := -1; r < repeat; r++ {
		t0 := time.Now()
		ids, err := tok.EncodeOrdinary(text)
		if err != nil {
			panic(err)
		}
		dt := time.Since(t0).Seconds()
		n = len(ids)
		if r >= 0 {
			times = append(times, dt)
		}
	}
	var lat []float64
	for r := 0; r < 5; r++ {
		t0 := time.Now()
		for i := 0; i < 20000; i++ {
			tok.EncodeOrdinary("hello world")
		}
		lat = append(lat, float64(time.Since(t0).Nanoseconds())/20000)
	}
	fmt.Printf("{\"host\":\"go\",\"mb_s\":%.2f,\"tokens\":%d,\"short_ns\":%.0f}\n",
		float64(len(data))/1e6/median(times), n, median(lat))
}
