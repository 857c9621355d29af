package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPromptFormat: vkctl prompt --format prints JSON of the schema (in
// a file or inline), --format json prints JSON, --grammar follows a GBNF
// file, and what the daemon refuses is reported with bad_request.
func TestPromptFormat(t *testing.T) {
	sock := startDaemon(t)
	ctx := context.Background()
	dir := t.TempDir()
	schema := filepath.Join(dir, "schema.json")
	if err := os.WriteFile(schema, []byte(`{"type":"object","properties":{"hero":{"type":"string","maxLength":12},
		"age":{"type":"integer"}},"required":["hero","age"],"additionalProperties":false}`), 0o644); err != nil {
		t.Fatal(err)
	}
	gbnf := filepath.Join(dir, "yes.gbnf")
	if err := os.WriteFile(gbnf, []byte("root ::= (\"yes\" | \"no\") \"!\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	prompt := func(flags ...string) (int, string, string) {
		args := append([]string{"--socket", sock, "prompt", "-m", "stories260K", "-n", "200", "--temperature", "1", "--seed", "5"}, flags...)
		return vkctl(ctx, append(args, "Once upon a time")...)
	}
	for _, flags := range [][]string{{"--format", schema}, {"--format", `{"type":"array","items":{"enum":[1,2]},"maxItems":3}`}} {
		code, out, stderr := prompt(flags...)
		var v any
		if code != exitOK || json.Unmarshal([]byte(out), &v) != nil {
			t.Fatalf("%v: exit %d, out %q, stderr %q", flags, code, out, stderr)
		}
		if obj, ok := v.(map[string]any); flags[1] == schema && (!ok || len(obj) != 2 || obj["hero"] == nil || obj["age"] == nil) {
			t.Errorf("%v: %q does not follow the schema", flags, out)
		}
	}
	if code, out, _ := prompt("--grammar", gbnf); code != exitOK || (out != "yes!\n" && out != "no!\n") {
		t.Errorf("--grammar: exit %d, out %q", code, out)
	}
	if code, out, _ := prompt("--format", "json", "--temperature", "0"); code != exitOK || !json.Valid([]byte(out)) {
		t.Errorf("--format json: exit %d, out %q", code, out)
	}
	code, _, stderr := prompt("--format", `{"type":"integer","multipleOf":2}`)
	if code != exitFailed || !strings.Contains(stderr, "bad_request") || !strings.Contains(stderr, `keyword "multipleOf"`) {
		t.Errorf("unsupported keyword: exit %d, %q", code, stderr)
	}
	for _, flags := range [][]string{{"--format", filepath.Join(dir, "none.json")}, {"--format", "json", "--grammar", gbnf}} {
		if code, _, _ := prompt(flags...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", flags, code, exitUsage)
		}
	}
}
