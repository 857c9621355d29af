package chat

import (
	"fmt"
	"strings"

	"github.com/ardanlabs/jinja"
)

// The Jinja engine runs macros on the Go stack with no depth limit, and a
// Go stack overflow is fatal rather than a panic: a model template whose
// macro calls itself without end would take the daemon down, and every
// other user's request with it. So each macro body is wrapped in calls
// that count how deep the macros nest, and a render that goes deeper than
// maxMacroDepth fails with ErrRender. Python's jinja2 stops near the same
// depth, at its interpreter's recursion limit, so no template that renders
// in transformers is refused here.
const maxMacroDepth = 400

const (
	macroEnterGlobal = "__vkinfer_macro_enter"
	macroLeaveGlobal = "__vkinfer_macro_leave"
)

// rewriteMacros wraps every macro body of src in the depth counter's
// calls. They are empty block tags that carry the trim flags of the tags
// they stand beside, so the rendered text is unchanged.
func rewriteMacros(src string) string {
	return rewriteTags(src, func(tag string) string {
		switch statement(tag) {
		case "macro":
			closer := " %}"
			if strings.HasSuffix(tag, "-%}") {
				closer = " -%}"
			}
			return tag + "{% if " + macroEnterGlobal + "() %}{% endif" + closer
		case "endmacro":
			opener := "{% "
			if strings.HasPrefix(tag, "{%-") {
				opener = "{%- "
			}
			return opener + "if " + macroLeaveGlobal + "() %}{% endif %}" + tag
		}
		return tag
	})
}

// statement returns the keyword of a {% ... %} tag, or "" for any other tag.
func statement(tag string) string {
	if !strings.HasPrefix(tag, "{%") {
		return ""
	}
	body := strings.TrimSuffix(tag[2:], "%}")
	body = strings.Trim(body, "-+ \t\r\n")
	word, _, _ := strings.Cut(body, " ")
	word, _, _ = strings.Cut(word, "(")
	return word
}

// macroDepth counts the macro calls of one render.
type macroDepth struct {
	depth int
	err   error // set once the limit is passed
}

// globals returns the counter's enter and leave callables.
func (d *macroDepth) globals() map[string]jinja.Value {
	return map[string]jinja.Value{
		macroEnterGlobal: jinja.NewCallable(macroEnterGlobal, func([]jinja.Value, map[string]jinja.Value) (jinja.Value, error) {
			d.depth++
			if d.depth > maxMacroDepth {
				d.err = fmt.Errorf("%w: macros nest more than %d calls deep; the template recurses without end", ErrRender, maxMacroDepth)
				return jinja.Undefined(), d.err
			}
			return jinja.NewBool(false), nil
		}),
		macroLeaveGlobal: jinja.NewCallable(macroLeaveGlobal, func([]jinja.Value, map[string]jinja.Value) (jinja.Value, error) {
			d.depth--
			return jinja.NewBool(false), nil
		}),
	}
}
