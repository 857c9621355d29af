package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vkinfer/vkinfer/ipc"
)

func runEmbed(e *env, args []string) error {
	fs := flagSet(e, "embed", "-m MODEL [flags] TEXT...")
	model := fs.StringP("model", "m", "", "embedding model name")
	truncate := fs.Bool("truncate", false, "cut inputs longer than the model's context instead of failing")
	dims := fs.Int("dimensions", 0, "keep only the first N dimensions (re-normalised)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *model == "" {
		return usagef("no model: pass -m MODEL (see `vkctl models`)")
	}
	texts := fs.Args()
	if len(texts) == 0 {
		all, err := textArg(e, nil)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(all, "\n") {
			if line != "" {
				texts = append(texts, line)
			}
		}
	}
	if len(texts) == 0 {
		return usagef("no text to embed")
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	res, err := c.Embed(e.ctx, &ipc.Request{Model: *model, Input: texts, Truncate: *truncate, Dimensions: *dims})
	if err != nil {
		return err
	}
	vecs := res.Embeddings
	var out any = vecs
	if len(vecs) == 1 && len(fs.Args()) == 1 {
		out = vecs[0]
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, string(b))
	return nil
}

func noArgs(e *env, name string, args []string) error {
	fs := flagSet(e, name, "")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("%s takes no arguments", name)
	}
	return nil
}

func modelArg(e *env, name string, args []string) (string, error) {
	fs := flagSet(e, name, "MODEL")
	if err := parse(fs, args); err != nil {
		return "", err
	}
	if fs.NArg() != 1 {
		return "", usagef("%s takes one model name", name)
	}
	return fs.Arg(0), nil
}

func runModels(e *env, args []string) error {
	if err := noArgs(e, "models", args); err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	models, err := c.Models(e.ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tARCH\tPARAMS\tCONTEXT\tSIZE\tTYPES\tCAPABILITIES\tLOADED")
	var refused []ipc.ModelInfo
	for _, m := range models {
		caps := strings.Join(m.Capabilities, ",")
		if caps == "" {
			caps = "-"
		}
		if m.Refused != "" {
			refused = append(refused, m)
			caps = "refused"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%v\n", m.Name, orDash(m.Arch), humanCount(m.Parameters), orDash(countOrEmpty(m.ContextLength)),
			humanBytes(uint64(m.Size)), typeMix(m.Types), caps, yesNo(m.Loaded))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Reasons are long (they name the key or tensor): one line each below
	// the table rather than a column that breaks it.
	for _, m := range refused {
		fmt.Fprintf(e.stdout, "%s refused: %s\n", m.Name, m.Refused)
	}
	return nil
}

func runPS(e *env, args []string) error {
	if err := noArgs(e, "ps", args); err != nil {
		return err
	}
	st, err := status(e)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCAPABILITY\tDEVICE\tMEMORY\tWORKERS\tRUNNING\tQUEUED\tIDLE")
	for _, p := range st.Pools {
		for _, m := range p.Models {
			if m.Workers == 0 {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", m.Name, p.Capability, m.Device, humanBytes(m.Memory),
				m.Workers, m.Running, m.Queued, time.Since(m.LastUse).Round(time.Second))
		}
	}
	return tw.Flush()
}

func status(e *env) (*ipc.Status, error) {
	c, err := e.connect()
	if err != nil {
		return nil, err
	}
	return c.Status(e.ctx)
}

func runStatus(e *env, args []string) error {
	fs := flagSet(e, "status", "[--json]")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	st, err := status(e)
	if err != nil {
		return err
	}
	if *asJSON {
		b, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, string(b))
		return nil
	}
	w := e.stdout
	fmt.Fprintf(w, "server:   %s, up %s\n", st.Server, st.Uptime.Round(time.Second))
	fmt.Fprintf(w, "device:   %s (%s)\n", st.Device, st.Backend)
	for _, m := range st.Memory {
		limit := "unlimited"
		if m.Limit > 0 {
			limit = humanBytes(m.Limit)
		}
		fmt.Fprintf(w, "memory:   %s: %s used of %s\n", m.Device, humanBytes(m.Used), limit)
	}
	fmt.Fprintf(w, "requests: %d (%d errors, %d cancelled), tokens: %d prompt (%d cached), %d generated\n",
		st.Counters["requests"], st.Counters["errors"], st.Counters["cancelled"],
		st.Counters["prompt_tokens"], st.Counters["cached_tokens"], st.Counters["generated_tokens"])
	for _, p := range st.Pools {
		fmt.Fprintf(w, "pool %s: %d models\n", p.Capability, len(p.Models))
		for _, m := range p.Models {
			fmt.Fprintf(w, "  %s: %d workers, %d running, %d queued, %s, breaker %s", m.Name, m.Workers, m.Running, m.Queued, humanBytes(m.Memory), m.Breaker)
			if m.LastErr != "" {
				fmt.Fprintf(w, " (last error: %s; retry at %s)", m.LastErr, m.RetryAt.Format(time.TimeOnly))
			}
			fmt.Fprintln(w)
			if kv := m.KVCache; kv != nil {
				fmt.Fprintf(w, "    kv cache: %d cells used, %d cached, %d free; %d sequences, %d steps\n",
					kv.Used, kv.Cached, kv.Free, kv.Sequences, kv.Steps)
			}
		}
	}
	return nil
}

func runLoad(e *env, args []string) error {
	name, err := modelArg(e, "load", args)
	if err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	stop := spinner(e, "loading "+name)
	defer stop()
	return c.Load(e.ctx, name)
}

func runUnload(e *env, args []string) error {
	name, err := modelArg(e, "unload", args)
	if err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	return c.Unload(e.ctx, name)
}

func runPing(e *env, args []string) error {
	if err := noArgs(e, "ping", args); err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	if err := c.Ping(e.ctx); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "ok: %s at %s\n", c.Server, e.socket)
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// humanCount writes a parameter count as llama.cpp and model cards do:
// 1000-based, three significant digits ("292K", "1.24B"); "-" for none.
func humanCount(n uint64) string {
	if n == 0 {
		return "-"
	}
	x, i := float64(n), 0
	for x >= 999.5 && i < 4 {
		x /= 1000
		i++
	}
	suffix := []string{"", "K", "M", "B", "T"}[i]
	switch {
	case i == 0 || x >= 99.5:
		return fmt.Sprintf("%.0f%s", x, suffix)
	case x >= 9.95:
		return fmt.Sprintf("%.1f%s", x, suffix)
	}
	return fmt.Sprintf("%.2f%s", x, suffix)
}

// typeMix writes a model's tensor types as TYPE×tensors, most bytes first,
// e.g. "Q3_K×15 Q4_K×10 F32×9": the dominant quant leads.
func typeMix(types []ipc.TensorTypes) string {
	if len(types) == 0 {
		return "-"
	}
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = fmt.Sprintf("%s×%d", t.Type, t.Tensors)
	}
	return strings.Join(parts, " ")
}

func countOrEmpty(n uint64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	x, i := float64(n), 0
	for x >= unit && i < 4 {
		x /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", x, []string{"B", "KiB", "MiB", "GiB", "TiB"}[i])
}
