package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"
	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/httpapi"
)

// Config is the daemon's configuration. Each field is set, in increasing
// precedence, by its default, the config file, a VKINFER_* environment
// variable, and a command-line flag.
type Config struct {
	Socket       string        `toml:"socket"`
	ModelsDir    string        `toml:"models_dir"`
	ExtraDirs    []string      `toml:"extra_model_dirs"`
	Device       string        `toml:"device"`
	Threads      int           `toml:"threads"`
	MemoryBudget ByteSize      `toml:"memory_budget"`
	KeepAlive    time.Duration `toml:"keep_alive"`
	MaxQueue     int           `toml:"max_queue"`
	Parallel     int           `toml:"parallel"`
	ContextSize  int           `toml:"context_size"`
	KVCells      int           `toml:"kv_cells"`
	KVType       string        `toml:"kv_type"`
	// FlashAttn has generation attend with flash attention's arithmetic
	// (compute.CacheShape.Flash), as llama.cpp's --flash-attn.
	FlashAttn bool          `toml:"flash_attn"`
	BatchSize int           `toml:"batch_size"`
	Timeout   time.Duration `toml:"request_timeout"`
	LogLevel  string        `toml:"log_level"`
	LogFormat string        `toml:"log_format"`
	// HTTP is the opt-in TCP address of the HTTP API (empty: none; the
	// Unix socket serves HTTP either way).
	HTTP            string `toml:"http"`
	HTTPAllowRemote bool   `toml:"http_allow_remote"`
}

// ByteSize is a memory size that reads "8GiB", "512MB", "1.5G" or plain bytes.
type ByteSize int64

// UnmarshalText parses a size with an optional K/M/G/T suffix, binary (KiB) or
// decimal (KB); a bare K/M/G/T is binary, as memory sizes usually are.
func (b *ByteSize) UnmarshalText(text []byte) error {
	n, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = n
	return nil
}

func (b ByteSize) String() string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%dB", int64(b))
	}
	x, i := float64(b), 0
	for x >= unit && i < 4 {
		x /= unit
		i++
	}
	return strconv.FormatFloat(x, 'g', 4, 64) + []string{"", "KiB", "MiB", "GiB", "TiB"}[i]
}

// ParseByteSize parses a memory size; see ByteSize.UnmarshalText.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	upper := strings.ToUpper(t)
	mult := 1.0
	for _, u := range []struct {
		suffix string
		mult   float64
	}{
		{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1},
	} {
		if strings.HasSuffix(upper, u.suffix) {
			upper, mult = strings.TrimSpace(strings.TrimSuffix(upper, u.suffix)), u.mult
			break
		}
	}
	x, err := strconv.ParseFloat(upper, 64)
	if err != nil || x < 0 || x*mult > 1<<62 {
		return 0, fmt.Errorf("invalid memory size %q (want e.g. 8GiB, 512MB)", s)
	}
	return ByteSize(x * mult), nil
}

func dataHome() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share")
}

func configHome() string {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".config")
}

// DefaultConfig returns the built-in defaults.
func DefaultConfig(defaultSocket string) Config {
	return Config{
		Socket:      defaultSocket,
		ModelsDir:   filepath.Join(dataHome(), "vkinfer", "models"),
		Device:      "auto",
		KeepAlive:   5 * time.Minute,
		MaxQueue:    64,
		Parallel:    1,
		ContextSize: 2048,
		KVType:      "f16",
		BatchSize:   512,
		Timeout:     10 * time.Minute,
		LogLevel:    "info",
		LogFormat:   "text",
	}
}

// flagSpec ties a flag to its environment variable and config key.
type flagSpec struct {
	name, env, usage string
}

var specs = map[string]flagSpec{
	"socket":            {"socket", "VKINFER_SOCKET", "Unix socket path"},
	"models-dir":        {"models-dir", "VKINFER_MODELS", "directory of .gguf models, each named by its file stem"},
	"extra-dir":         {"extra-dir", "VKINFER_EXTRA_DIRS", "further model directories (repeatable; env: colon-separated)"},
	"device":            {"device", "VKINFER_DEVICE", "compute device: auto, cpu, vulkan or vulkan:N"},
	"threads":           {"threads", "VKINFER_THREADS", "CPU threads (0 = number of cores)"},
	"memory-budget":     {"memory-budget", "VKINFER_MEMORY_BUDGET", "memory for loaded models, e.g. 8GiB (0 = 3/4 of RAM)"},
	"keep-alive":        {"keep-alive", "VKINFER_KEEP_ALIVE", "unload a model idle this long (0 = at once, negative = never)"},
	"max-queue":         {"max-queue", "VKINFER_MAX_QUEUE", "requests queued per model before 'busy'"},
	"parallel":          {"parallel", "VKINFER_PARALLEL", "most requests a loaded model generates at once (batched into shared steps)"},
	"context-size":      {"context-size", "VKINFER_CONTEXT_SIZE", "default context size in tokens per request (capped by the model's; a request's context_size may lower it)"},
	"kv-cells":          {"kv-cells", "VKINFER_KV_CELLS", "most KV cache cells a model's requests share; the cache starts at one context and grows as they need (0: context-size x parallel)"},
	"kv-type":           {"kv-type", "VKINFER_KV_TYPE", "KV cache type of generation: f16, q8_0 or f32"},
	"flash-attn":        {"flash-attn", "VKINFER_FLASH_ATTN", "attend with flash attention (online softmax, weights unrounded), as llama.cpp's --flash-attn"},
	"batch-size":        {"batch-size", "VKINFER_BATCH_SIZE", "prompt tokens evaluated per batch"},
	"request-timeout":   {"request-timeout", "VKINFER_REQUEST_TIMEOUT", "longest a request may take, queueing included"},
	"log-level":         {"log-level", "VKINFER_LOG_LEVEL", "debug, info, warn or error"},
	"log-format":        {"log-format", "VKINFER_LOG_FORMAT", "text or json"},
	"http":              {"http", "VKINFER_HTTP", "also serve the HTTP API on this TCP address, e.g. 127.0.0.1:11435 (bearer token: vkctl token)"},
	"http-allow-remote": {"http-allow-remote", "VKINFER_HTTP_ALLOW_REMOTE", "allow a non-loopback --http address"},
}

// LoadConfig builds the configuration from defaults, the config file,
// the environment and args. configPath "" means the default location, which
// may be absent; an explicit --config that is absent is an error.
func LoadConfig(args []string, getenv func(string) string, defaultSocket string) (Config, *pflag.FlagSet, error) {
	cfg := DefaultConfig(defaultSocket)
	fs := pflag.NewFlagSet("vkinferd", pflag.ContinueOnError)
	configPath := fs.String("config", "", "config file (default $XDG_CONFIG_HOME/vkinfer/config.toml)")
	fs.String("socket", "", specs["socket"].usage)
	fs.String("models-dir", "", specs["models-dir"].usage)
	fs.StringArray("extra-dir", nil, specs["extra-dir"].usage)
	fs.String("device", "", specs["device"].usage)
	fs.Int("threads", 0, specs["threads"].usage)
	fs.String("memory-budget", "", specs["memory-budget"].usage)
	fs.Duration("keep-alive", 0, specs["keep-alive"].usage)
	fs.Int("max-queue", 0, specs["max-queue"].usage)
	fs.Int("parallel", 0, specs["parallel"].usage)
	fs.Int("context-size", 0, specs["context-size"].usage)
	fs.Int("kv-cells", 0, specs["kv-cells"].usage)
	fs.String("kv-type", "", specs["kv-type"].usage)
	fs.Bool("flash-attn", false, specs["flash-attn"].usage)
	fs.Int("batch-size", 0, specs["batch-size"].usage)
	fs.Duration("request-timeout", 0, specs["request-timeout"].usage)
	fs.String("log-level", "", specs["log-level"].usage)
	fs.String("log-format", "", specs["log-format"].usage)
	fs.String("http", "", specs["http"].usage)
	fs.Bool("http-allow-remote", false, specs["http-allow-remote"].usage)
	fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return cfg, fs, err
	}

	path := *configPath
	if path == "" {
		path = getenv("VKINFER_CONFIG")
	}
	explicit := path != ""
	if !explicit {
		path = filepath.Join(configHome(), "vkinfer", "config.toml")
	}
	md, err := toml.DecodeFile(path, &cfg)
	switch {
	case err == nil:
		if undecoded := md.Undecoded(); len(undecoded) > 0 {
			return cfg, fs, fmt.Errorf("config %s: unknown key %q", path, undecoded[0].String())
		}
	case errors.Is(err, os.ErrNotExist) && !explicit:
	default:
		return cfg, fs, fmt.Errorf("config %s: %w", path, err)
	}

	for name, spec := range specs {
		val := getenv(spec.env)
		fromFlag := fs.Changed(name)
		if fromFlag {
			if name == "extra-dir" {
				dirs, _ := fs.GetStringArray(name)
				val = strings.Join(dirs, string(os.PathListSeparator))
			} else {
				val = fs.Lookup(name).Value.String()
			}
		}
		if val == "" && !fromFlag {
			continue
		}
		if err := cfg.set(name, val); err != nil {
			src := spec.env
			if fromFlag {
				src = "--" + name
			}
			return cfg, fs, fmt.Errorf("%s: %w", src, err)
		}
	}
	return cfg, fs, cfg.Validate()
}

func (c *Config) set(name, val string) error {
	atoi := func(dst *int) error {
		n, err := strconv.Atoi(val)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", val)
		}
		*dst = n
		return nil
	}
	dur := func(dst *time.Duration) error {
		d, err := time.ParseDuration(val)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 5m, 30s, -1s)", val)
		}
		*dst = d
		return nil
	}
	switch name {
	case "socket":
		c.Socket = val
	case "models-dir":
		c.ModelsDir = val
	case "extra-dir":
		c.ExtraDirs = filepath.SplitList(val)
	case "device":
		c.Device = val
	case "threads":
		return atoi(&c.Threads)
	case "memory-budget":
		n, err := ParseByteSize(val)
		if err != nil {
			return err
		}
		c.MemoryBudget = n
	case "keep-alive":
		return dur(&c.KeepAlive)
	case "max-queue":
		return atoi(&c.MaxQueue)
	case "parallel":
		return atoi(&c.Parallel)
	case "context-size":
		return atoi(&c.ContextSize)
	case "kv-cells":
		return atoi(&c.KVCells)
	case "kv-type":
		c.KVType = val
	case "flash-attn":
		return parseBool(&c.FlashAttn, val)
	case "batch-size":
		return atoi(&c.BatchSize)
	case "request-timeout":
		return dur(&c.Timeout)
	case "log-level":
		c.LogLevel = val
	case "log-format":
		c.LogFormat = val
	case "http":
		c.HTTP = val
	case "http-allow-remote":
		return parseBool(&c.HTTPAllowRemote, val)
	}
	return nil
}

// parseBool sets *b to val read as a boolean.
func parseBool(b *bool, val string) error {
	v, err := strconv.ParseBool(val)
	if err != nil {
		return fmt.Errorf("%q is not true or false", val)
	}
	*b = v
	return nil
}

// Validate checks ranges and enumerations.
func (c *Config) Validate() error {
	switch {
	case c.Socket == "":
		return errors.New("socket path is empty")
	case c.ModelsDir == "":
		return errors.New("models dir is empty")
	case c.Threads < 0:
		return fmt.Errorf("threads %d must be >= 0", c.Threads)
	case c.MemoryBudget < 0:
		return fmt.Errorf("memory budget %d must be >= 0", c.MemoryBudget)
	case c.MaxQueue < 1:
		return fmt.Errorf("max queue %d must be >= 1", c.MaxQueue)
	case c.Parallel < 1:
		return fmt.Errorf("parallel %d must be >= 1", c.Parallel)
	case c.ContextSize < 16:
		return fmt.Errorf("context size %d must be >= 16", c.ContextSize)
	case c.KVCells < 0:
		return fmt.Errorf("kv cells %d must be >= 0", c.KVCells)
	case c.BatchSize < 1:
		return fmt.Errorf("batch size %d must be >= 1", c.BatchSize)
	case c.Timeout <= 0:
		return fmt.Errorf("request timeout %v must be > 0", c.Timeout)
	}
	if _, _, err := ParseDevice(c.Device); err != nil {
		return err
	}
	if _, err := compute.ParseKVType(c.KVType); err != nil {
		return err
	}
	if c.HTTP != "" {
		if err := httpapi.CheckAddr(c.HTTP, c.HTTPAllowRemote); err != nil {
			return err
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("log format %q: want text or json", c.LogFormat)
	}
	return nil
}

// ParseDevice splits "auto", "cpu", "vulkan" or "vulkan:N" into a kind and
// a device index (-1 when none is named).
func ParseDevice(s string) (kind string, index int, err error) {
	kind, idx, hasIdx := strings.Cut(s, ":")
	switch kind {
	case "auto", "cpu":
		if hasIdx {
			return "", 0, fmt.Errorf("device %q: only vulkan takes an index", s)
		}
		return kind, -1, nil
	case "vulkan":
		if !hasIdx {
			return kind, -1, nil
		}
		n, err := strconv.Atoi(idx)
		if err != nil || n < 0 {
			return "", 0, fmt.Errorf("device %q: index must be a whole number >= 0", s)
		}
		return kind, n, nil
	}
	return "", 0, fmt.Errorf("device %q: want auto, cpu, vulkan or vulkan:N", s)
}
