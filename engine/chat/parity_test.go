package chat

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/model/tokenizer"
)

// The parity test holds our Jinja rendering to Python jinja2's, as
// transformers configures it, byte for byte. testdata/expected.json is
// made by testdata/render.py (python3-jinja2) from the same templates and
// conversations; see that script for how to regenerate it.

type expectedFile struct {
	Jinja2    string `json:"jinja2"`
	Templates map[string]struct {
		SourceSHA256 string `json:"source_sha256"`
		Renders      map[string]struct {
			Text  *string `json:"text"`
			Error string  `json:"error"`
		} `json:"renders"`
	} `json:"templates"`
}

type testConversation struct {
	AddGenerationPrompt bool              `json:"add_generation_prompt"`
	Tools               []json.RawMessage `json:"tools"`
	Messages            []struct {
		Role      string `json:"role"`
		Content   string `json:"content"`
		ToolCalls []struct {
			ID       string `json:"id"`
			Function struct {
				Name      string          `json:"name"`
				Arguments json.RawMessage `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
		ToolCallID string `json:"tool_call_id"`
	} `json:"messages"`
}

func (c testConversation) chat() Chat {
	out := Chat{Tools: c.Tools, AddGenerationPrompt: c.AddGenerationPrompt}
	for _, m := range c.Messages {
		msg := Message{Role: m.Role, Content: m.Content, ToolCallID: m.ToolCallID}
		for _, tc := range m.ToolCalls {
			msg.ToolCalls = append(msg.ToolCalls, ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
		out.Messages = append(out.Messages, msg)
	}
	return out
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type parityTemplate struct {
	source string
	tokens Tokens
}

// parityTemplates returns the test data's templates and those of every
// GGUF file under the shared models folder that carries one.
func parityTemplates(t *testing.T) map[string]parityTemplate {
	var manifest map[string]struct {
		BOS string `json:"bos_token"`
		EOS string `json:"eos_token"`
	}
	readJSON(t, "testdata/templates.json", &manifest)
	out := map[string]parityTemplate{}
	for name, m := range manifest {
		src, err := os.ReadFile(filepath.Join("testdata", "templates", name+".jinja"))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = parityTemplate{string(src), Tokens{BOS: m.BOS, EOS: m.EOS}}
	}
	models := filepath.Dir(testmodels.Model(t, "llama/stories260K.gguf"))
	models = filepath.Dir(models)
	err := filepath.WalkDir(models, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".gguf") {
			return err
		}
		f, err := gguf.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		src := SourceOf(f)
		if src == "" {
			return nil
		}
		tok, err := tokenizer.FromGGUF(f)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(models, path)
		out["gguf:"+rel] = parityTemplate{src, TokensOf(tok)}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lenient are the renders where jinja2 fails with a TypeError and our
// engine (github.com/ardanlabs/jinja v1.8.0) renders instead: it joins a
// string and a dict with "+" (printing the dict as Python would), where
// Python refuses. DeepSeek-R1's template concatenates tool call arguments,
// which it expects as a JSON string, and transformers passes a dict.
var lenient = map[string]bool{
	"deepseek-r1/tools-roundtrip": true,
	"deepseek-r1/tools-parallel":  true,
	"deepseek-r1/tools-json-edge": true,
}

func TestJinjaParity(t *testing.T) {
	seen := map[string]bool{}
	var want expectedFile
	readJSON(t, "testdata/expected.json", &want)
	var convs map[string]testConversation
	readJSON(t, "testdata/conversations.json", &convs)
	templates := parityTemplates(t)
	if len(templates) < 12 {
		t.Fatalf("%d templates, want at least 12", len(templates))
	}
	names := make([]string, 0, len(templates))
	for n := range templates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		pt := templates[name]
		exp, ok := want.Templates[name]
		sum := sha256.Sum256([]byte(pt.source))
		if !ok || exp.SourceSHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: no expected output for this template source; run testdata/render.py", name)
			continue
		}
		tmpl, err := Parse(pt.source, pt.tokens)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if tmpl.Name() != "jinja" {
			t.Errorf("%s: rendered by the hand-written %s family, not as Jinja (%v)", name, tmpl.Name(), tmpl.Fallback())
			continue
		}
		for cname, conv := range convs {
			e, ok := exp.Renders[cname]
			if !ok {
				t.Errorf("%s/%s: no expected output", name, cname)
				continue
			}
			got, err := tmpl.Render(conv.chat())
			switch {
			case e.Text == nil && err == nil && lenient[name+"/"+cname] && strings.HasPrefix(e.Error, "TypeError"):
				seen[name+"/"+cname] = true
			case e.Text == nil && err == nil:
				t.Errorf("%s/%s: rendered, jinja2 failed with %q\ngot: %q", name, cname, e.Error, got)
			case e.Text == nil && !strings.HasPrefix(e.Error, "TypeError") && !errors.Is(err, ErrRaised):
				t.Errorf("%s/%s: error %v, want the template's raise_exception %q", name, cname, err, e.Error)
			case e.Text == nil && errors.Is(err, ErrRaised) && !strings.HasSuffix(err.Error(), e.Error):
				t.Errorf("%s/%s: error %q, want %q", name, cname, err, e.Error)
			case e.Text != nil && err != nil:
				t.Errorf("%s/%s: %v", name, cname, err)
			case e.Text != nil && got != *e.Text:
				t.Errorf("%s/%s: differs from jinja2\ngot:  %q\nwant: %q", name, cname, got, *e.Text)
			}
		}
	}
	for k := range lenient {
		if !seen[k] {
			t.Errorf("%s: listed as lenient but rendered as jinja2 does; drop it from the list", k)
		}
	}
}

// TestExpectedIsCurrent reruns testdata/render.py, where python3 with
// jinja2 is installed, and checks that the committed expected output is
// what it writes now: the templates, conversations and script have not
// changed without it.
func TestExpectedIsCurrent(t *testing.T) {
	if exec.Command("python3", "-c", "import jinja2").Run() != nil {
		t.Skip("python3 with jinja2 (Debian's python3-jinja2) is not installed")
	}
	models := filepath.Dir(filepath.Dir(testmodels.Model(t, "llama/stories260K.gguf")))
	cmd := exec.Command("python3", "render.py", models)
	cmd.Dir = "testdata"
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("render.py: %v", err)
	}
	want, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	// Only the renders count, not which jinja2 version made them.
	var g, w struct{ Templates any }
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Error("testdata/expected.json is stale: run `cd engine/chat/testdata && python3 render.py ../../../../shared/models > expected.json`")
	}
}
