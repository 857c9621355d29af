package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// figure is llama.cpp's pp128 and tg64 for one model and backend: the text
// of its runs and the faster one.
type figure struct {
	pp, tg         string
	ppBest, tgBest float64
}

// llamaCppFigures reads the llama-bench table of the shared reference
// README: rows "| model | backend | pp a / b | tg a / b |".
func llamaCppFigures(path string) (map[[2]string]figure, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[[2]string]figure{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(strings.Trim(strings.TrimSpace(sc.Text()), "|"), "|")
		if len(cells) != 4 {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		pp, okp := best(cells[2])
		tg, okt := best(cells[3])
		if !okp && !okt {
			continue
		}
		out[[2]string{cells[0], cells[1]}] = figure{pp: cells[2], tg: cells[3], ppBest: pp, tgBest: tg}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no llama-bench table", path)
	}
	return out, nil
}

// best returns the largest number of "a / b".
func best(cell string) (float64, bool) {
	var top float64
	ok := false
	for _, part := range strings.Split(cell, "/") {
		v, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err == nil && v > top {
			top, ok = v, true
		}
	}
	return top, ok
}
