package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	file := filepath.Join(dir, "vkinfer", "config.toml")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	err := os.WriteFile(file, []byte(`
models_dir = "/from/file"
threads = 3
keep_alive = "90s"
memory_budget = "2GiB"
max_queue = 5
device = "cpu"
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := LoadConfig(
		[]string{"--threads", "7", "--extra-dir", "/a", "--extra-dir", "/b"},
		env(map[string]string{"VKINFER_THREADS": "5", "VKINFER_KEEP_ALIVE": "-1s", "VKINFER_DEVICE": "vulkan:1"}),
		"/run/default.sock")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"socket (default)", cfg.Socket, "/run/default.sock"},
		{"models dir (file)", cfg.ModelsDir, "/from/file"},
		{"threads (flag over env over file)", cfg.Threads, 7},
		{"keep-alive (env over file)", cfg.KeepAlive, -time.Second},
		{"device (env over file)", cfg.Device, "vulkan:1"},
		{"memory budget (file)", cfg.MemoryBudget, ByteSize(2 << 30)},
		{"max queue (file)", cfg.MaxQueue, 5},
		{"extra dirs (flag)", strings.Join(cfg.ExtraDirs, ","), "/a,/b"},
		{"context (default)", cfg.ContextSize, 2048},
		{"kv type (default)", cfg.KVType, "f16"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestConfigDefaultsWithoutFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	cfg, _, err := LoadConfig(nil, env(nil), "/s.sock")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "data", "vkinfer", "models"); cfg.ModelsDir != want {
		t.Errorf("models dir %q, want %q", cfg.ModelsDir, want)
	}
	if cfg.Device != "auto" || cfg.KeepAlive != 5*time.Minute {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("threads = 2\nthreadz = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--device", "gpu"}, nil, `device "gpu"`},
		{[]string{"--device", "cpu:1"}, nil, "only vulkan takes an index"},
		{nil, map[string]string{"VKINFER_THREADS": "many"}, "VKINFER_THREADS"},
		{[]string{"--memory-budget", "lots"}, nil, "invalid memory size"},
		{[]string{"--max-queue", "0"}, nil, "max queue"},
		{[]string{"--log-level", "loud"}, nil, "log level"},
		{[]string{"--kv-type", "q4_0"}, nil, `KV cache type "q4_0"`},
		{[]string{"--config", bad}, nil, `unknown key "threadz"`},
		{[]string{"--config", filepath.Join(dir, "missing.toml")}, nil, "missing.toml"},
		{nil, map[string]string{"VKINFER_KEEP_ALIVE": "soon"}, "not a duration"},
		{[]string{"--no-such-flag"}, nil, "unknown flag"},
	}
	for _, tc := range tests {
		_, _, err := LoadConfig(tc.args, env(tc.env), "/s.sock")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadConfig(%v, %v) = %v, want error containing %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
	}{
		{"0", 0}, {"1024", 1024}, {"8GiB", 8 << 30}, {"512MB", 512e6}, {"1.5G", 3 << 29}, {"64k", 64 << 10}, {" 2 GiB ", 2 << 30},
	}
	for _, tc := range tests {
		got, err := ParseByteSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "GiB", "-1G", "1X", "1e30T"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) succeeded", in)
		}
	}
	if s := ByteSize(3 << 29).String(); s != "1.5GiB" {
		t.Errorf("String = %q", s)
	}
}

// TestConfigHTTP: --http must be loopback unless --http-allow-remote
// (or their environment variables) allow another address.
func TestConfigHTTP(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, tc := range []struct {
		args []string
		env  map[string]string
		ok   bool
	}{
		{[]string{"--http", "127.0.0.1:11435"}, nil, true},
		{[]string{"--http", "[::1]:11435"}, nil, true},
		{[]string{"--http", "localhost:11435"}, nil, true},
		{nil, map[string]string{"VKINFER_HTTP": "127.0.0.2:80"}, true},
		{[]string{"--http", "0.0.0.0:11435"}, nil, false},
		{[]string{"--http", ":11435"}, nil, false},
		{[]string{"--http", "192.0.2.1:11435"}, nil, false},
		{[]string{"--http", "example.org:11435"}, nil, false},
		{[]string{"--http", "127.0.0.1"}, nil, false},
		{[]string{"--http", "0.0.0.0:11435", "--http-allow-remote"}, nil, true},
		{[]string{"--http", ":11435"}, map[string]string{"VKINFER_HTTP_ALLOW_REMOTE": "true"}, true},
		{[]string{"--http", ":11435"}, map[string]string{"VKINFER_HTTP_ALLOW_REMOTE": "maybe"}, false},
	} {
		cfg, _, err := LoadConfig(tc.args, env(tc.env), "/run/d.sock")
		if (err == nil) != tc.ok {
			t.Errorf("%v %v: %v", tc.args, tc.env, err)
		}
		if err == nil && cfg.HTTP == "" {
			t.Errorf("%v %v: no HTTP address", tc.args, tc.env)
		}
	}
}

// TestConfigFlashAttn: flash attention is off unless --flash-attn, its
// environment variable or the config file's flash_attn turns it on; a
// value that is not a boolean is refused.
func TestConfigFlashAttn(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		env       map[string]string
		file      string
		want, err bool
	}{
		{nil, nil, "", false, false},
		{[]string{"--flash-attn"}, nil, "", true, false},
		{[]string{"--flash-attn=false"}, map[string]string{"VKINFER_FLASH_ATTN": "1"}, "", false, false},
		{nil, map[string]string{"VKINFER_FLASH_ATTN": "true"}, "", true, false},
		{nil, nil, "flash_attn = true\n", true, false},
		{nil, map[string]string{"VKINFER_FLASH_ATTN": "sometimes"}, "", false, true},
	} {
		dir := t.TempDir()
		t.Setenv("XDG_CONFIG_HOME", dir)
		if tc.file != "" {
			file := filepath.Join(dir, "vkinfer", "config.toml")
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cfg, _, err := LoadConfig(tc.args, env(tc.env), "/run/d.sock")
		if (err != nil) != tc.err {
			t.Errorf("%v %v %q: error %v", tc.args, tc.env, tc.file, err)
			continue
		}
		if err == nil && cfg.FlashAttn != tc.want {
			t.Errorf("%v %v %q: flash attention %v, want %v", tc.args, tc.env, tc.file, cfg.FlashAttn, tc.want)
		}
	}
}
