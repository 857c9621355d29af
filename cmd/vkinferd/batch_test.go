package main

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vkinfer/vkinfer/ipc"
)

// TestSlowReader: beside a client that stops reading its stream, another
// request to the same model finishes at its own pace, and the slow one,
// read at last, has the ids it has alone.
func TestSlowReader(t *testing.T) {
	d := startDaemon(t, modelsDir(t), socketPath(t), "--parallel", "2")
	_, want := referenceIDs(t, "stories260K")
	slow := dialRaw(t, d.socket)
	slow.send(map[string]any{"op": "generate", "id": 1, "model": "stories260K", "prompt": "Once upon a time",
		"options": map[string]any{"temperature": 0}})
	slow.recv() // it has started: its first chunk is out

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := d.client().Generate(ctx, greedy(64))
	if err != nil {
		t.Fatal(err)
	}
	_, ids, stats, err := drain(s)
	if err != nil {
		t.Fatalf("beside a slow reader: %v", err)
	}
	if !slices.Equal(ids, want[:64]) || stats.GeneratedTokens != 64 {
		t.Errorf("beside a slow reader: %v (%+v), want %v", ids, stats, want[:64])
	}
	var slowIDs []int64
	for {
		f := slow.recv()
		if f["op"] != "chunk" {
			if f["op"] != "done" {
				t.Fatalf("slow reader's request ended with %v", f)
			}
			break
		}
		for _, id := range f["tokens"].([]any) {
			slowIDs = append(slowIDs, reflect.ValueOf(id).Convert(reflect.TypeFor[int64]()).Int())
		}
	}
	// Its first chunk was read above: compare from its second token.
	for i, id := range slowIDs {
		if i+1 < len(want) && id != int64(want[i+1]) {
			t.Fatalf("slow reader's token %d: %d, want %d", i+1, id, want[i+1])
		}
	}
}

// TestPrefixCachedAcrossClients: a second client's request with the same
// prompt maps the first one's pages (cached_tokens) and draws the same
// ids; so does a request running beside it.
func TestPrefixCachedAcrossClients(t *testing.T) {
	d := startDaemon(t, modelsDir(t), socketPath(t), "--parallel", "4")
	_, want := referenceIDs(t, "stories260K")
	long := greedy(48)
	// A prompt of several pages, the reference prompt at its end.
	long.Prompt = "Lily and Tom went to the park. They played with a big red ball all day. Then they went home. Once upon a time"
	first, err := d.client().Generate(context.Background(), long)
	if err != nil {
		t.Fatal(err)
	}
	_, firstIDs, firstStats, err := drain(first)
	if err != nil {
		t.Fatal(err)
	}
	if firstStats.CachedTokens != 0 {
		t.Errorf("first request: %d cached tokens", firstStats.CachedTokens)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			s, err := d.client().Generate(context.Background(), long)
			if err != nil {
				t.Error(err)
				return
			}
			_, ids, stats, err := drain(s)
			switch {
			case err != nil:
				t.Error(err)
			case !slices.Equal(ids, firstIDs):
				t.Errorf("with a cached prefix: %v, first %v", ids, firstIDs)
			case stats.CachedTokens < 16 || stats.CachedTokens >= stats.PromptTokens:
				t.Errorf("cached %d of %d prompt tokens, want whole pages short of the last token", stats.CachedTokens, stats.PromptTokens)
			}
		})
	}
	wg.Wait()
	// The short reference prompt still matches llama.cpp after all that.
	s, err := d.client().Generate(context.Background(), greedy(32))
	if err != nil {
		t.Fatal(err)
	}
	if _, ids, _, err := drain(s); err != nil || !slices.Equal(ids, want[:32]) {
		t.Errorf("reference prompt: %v %v, want %v", ids, err, want[:32])
	}
	// Idle, the model's cache holds no request's cells but keeps the
	// prefixes for later ones.
	st, err := d.client().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var kv *ipc.KVCacheStatus
	for _, p := range st.Pools {
		for _, m := range p.Models {
			if m.Name == "stories260K" && m.KVCache != nil {
				kv = m.KVCache
			}
		}
	}
	if kv == nil || kv.Used != 0 || kv.Cached == 0 || kv.Free == 0 || kv.Steps == 0 {
		t.Errorf("status kv cache %+v, want none used, some cached and free, steps run", kv)
	}
}

// TestContextSizeOption: options.context_size bounds a request's
// positions; more than the model's context is refused.
func TestContextSizeOption(t *testing.T) {
	d := startDaemon(t, modelsDir(t), socketPath(t))
	c := d.client()
	req := greedy(0)
	n := 12
	req.Options.ContextSize = &n
	s, err := c.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	_, ids, stats, err := drain(s)
	if err != nil {
		t.Fatal(err)
	}
	// The last token drawn needs no position of its own.
	if stats.StopReason != "context_full" || stats.PromptTokens+len(ids) != n+1 {
		t.Errorf("context_size %d: %d prompt + %d generated tokens, stop %q", n, stats.PromptTokens, len(ids), stats.StopReason)
	}
	for _, bad := range []int{-1, 1 << 20} {
		req.Options.ContextSize = &bad
		s, err := c.Generate(context.Background(), req)
		if err == nil {
			_, _, _, err = drain(s)
		}
		var pe *ipc.Error
		if !errors.As(err, &pe) || pe.Code != ipc.CodeBadRequest {
			t.Errorf("context_size %d: %v, want bad_request", bad, err)
		}
	}
}
