# vkinfer: `make run` builds, fetches the default model, starts the daemon
# and streams a prompt; `make test` runs the whole suite (what CI runs).

GO        ?= go
BIN       := bin
# The default models ship in the testdata of this exact Go module version;
# their sha256 come from ../shared/models/SOURCES.md and are checked.
MODEL_MODULE   := github.com/mutablelogic/go-llama@v0.0.11
STORIES_SHA256 := 270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d
MINILM_SHA256  := 2ec4cee28a27a9c973d5f5230930d6ef6e52694bd2bc71be26a9bef5b1d755e6
DATA_HOME  := $(or $(XDG_DATA_HOME),$(HOME)/.local/share)
MODELS_DIR ?= $(DATA_HOME)/vkinfer/models
PROMPT     ?= Once upon a time
MODEL      ?= stories260K
DEVICE     ?= auto

SHADER_SRC := $(wildcard shaders/*.comp)
SHADER_SPV := $(SHADER_SRC:.comp=.spv)
GLSLANG    ?= glslangValidator

.PHONY: all build run models test test-kernel-variants test-race vet fmt-check tidy-check shaders bench bench-versus bench-models soak install-user clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# Downloads the pinned module through the Go module proxy (no model hub),
# checks the files against the pinned sha256 and links them into MODELS_DIR.
models:
	@dir=$$(cd / && GOFLAGS=-mod=mod $(GO) mod download -json $(MODEL_MODULE) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	test -n "$$dir" || { echo "models: could not download $(MODEL_MODULE)" >&2; exit 1; }; \
	echo "$(STORIES_SHA256)  $$dir/testdata/stories260K.gguf" | sha256sum -c --quiet - && \
	echo "$(MINILM_SHA256)  $$dir/testdata/all-MiniLM-L6-v2-Q4_K_M.gguf" | sha256sum -c --quiet - && \
	mkdir -p "$(MODELS_DIR)" && \
	ln -sf "$$dir/testdata/stories260K.gguf" "$(MODELS_DIR)/stories260K.gguf" && \
	ln -sf "$$dir/testdata/all-MiniLM-L6-v2-Q4_K_M.gguf" "$(MODELS_DIR)/all-MiniLM-L6-v2-Q4_K_M.gguf" && \
	echo "models: stories260K and all-MiniLM-L6-v2-Q4_K_M checked and linked in $(MODELS_DIR)"

run: build models
	@MODELS_DIR="$(MODELS_DIR)" BIN="$(BIN)" MODEL="$(MODEL)" PROMPT="$(PROMPT)" DEVICE="$(DEVICE)" PROMPT_FLAGS="$(PROMPT_FLAGS)" bash contrib/run-demo.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }

# go.mod and go.sum must be what `go mod tidy` makes of them (direct
# dependencies not marked indirect, nothing missing or unused).
tidy-check:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

# A first run on a machine compiles every shader variant the tests bind
# on lavapipe: with Mesa's shader cache empty, vk/ops alone took 4
# minutes on 2 cores, so the per-package limit is above go test's 10.
test: fmt-check vet tidy-check
	$(GO) test -count=1 -timeout 30m ./...
	$(MAKE) test-kernel-variants
	$(MAKE) test-race

# The kernel tests force each CPU kernel set the host runs (go, avx2,
# vnni) and name the proven and the skipped ones; go test prints those
# lines only verbosely, so this run shows them in the test log.
test-kernel-variants:
	@log=$$(mktemp); $(GO) test -count=1 -v ./kernels/ > $$log 2>&1; rc=$$?; \
	grep -E '^kernels: variants|^--- FAIL|^FAIL' $$log; rm -f $$log; exit $$rc

test-race:
	$(GO) test -count=1 -race ./ipc/... ./pool/... ./engine/... ./httpapi/...
	$(GO) test -count=1 -race -run 'Batch|Prefix|Exhaustion|Growth|Cancel|LongPrompt' ./runner/
	$(GO) test -count=1 -race -run 'ProfileWhileStepping' ./backend/vulkan/

# Regenerates the embedded SPIR-V; a test fails when it is stale. Each
# shader that reduces (includes reduce.glsl) gets a second build without
# subgroup operations, NAME_nosg.spv, for devices that lack them.
SHADER_NOSG := $(patsubst %.comp,%_nosg.spv,$(shell grep -l '^\#include "reduce.glsl"' $(SHADER_SRC)))
shaders: $(SHADER_SPV) $(SHADER_NOSG)

shaders/%_nosg.spv: shaders/%.comp $(wildcard shaders/*.glsl)
	$(GLSLANG) -V --target-env vulkan1.2 -DUSE_SUBGROUPS=0 -o $@ $<

shaders/%.spv: shaders/%.comp $(wildcard shaders/*.glsl)
	$(GLSLANG) -V --target-env vulkan1.2 -o $@ $<

# Benchmarks (never timed assertions): go test -bench over the packages
# with a hot path, then the model table of cmd/vkbench over BENCH_MODELS
# (made by `make bench-models`). BENCHTIME trades precision for time.
# LLAMA_BENCH, naming llama.cpp's llama-bench binary, adds a table that runs
# it on the same files interleaved with ours, with the ratio per row;
# `make bench-versus` runs that table alone; VERSUS_ROUNDS sets how many
# interleaved rounds each row takes (the best of each side is compared).
BENCHTIME    ?= 1s
BENCH_MODELS ?= bench-models
SHARED       ?= ../shared
LLAMA_BENCH  ?=
VERSUS_ROUNDS ?= 2
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./kernels/... ./model/... ./engine/... ./ipc/... ./vk/... ./cmd/vkinferd/
	$(BIN)/vkbench run --dir $(BENCH_MODELS) --shared $(SHARED) --versus-rounds $(VERSUS_ROUNDS) $(if $(LLAMA_BENCH),--llama-bench "$(LLAMA_BENCH)")

bench-versus: build
	@test -n "$(LLAMA_BENCH)" || { echo "bench-versus: set LLAMA_BENCH to llama.cpp's llama-bench binary" >&2; exit 1; }
	$(BIN)/vkbench run --dir $(BENCH_MODELS) --shared $(SHARED) --llama-bench "$(LLAMA_BENCH)" --versus-only --versus-rounds $(VERSUS_ROUNDS)

# Synthetic llama models with the real Llama-2 vocabulary (from the shared
# vocab file) in the stories15M and TinyLlama-1.1B shapes; about 2.5 GB,
# written to the gitignored BENCH_MODELS.
bench-models: build
	$(BIN)/vkbench gen --dir $(BENCH_MODELS) --vocab $(SHARED)/models/vocab/ggml-vocab-llama-spm.gguf

# Load and leak check against a real daemon (see cmd/vksoak).
SOAK_DURATION ?= 30s
soak: build models
	@MODELS_DIR="$(MODELS_DIR)" BIN="$(BIN)" SOAK_DURATION="$(SOAK_DURATION)" DEVICE="$(DEVICE)" bash contrib/soak.sh

# Installs the binaries in PREFIX/bin and the systemd user units; then
# `systemctl --user enable --now vkinferd.socket` starts the daemon on demand.
PREFIX      ?= $(HOME)/.local
SYSTEMD_USER ?= $(or $(XDG_CONFIG_HOME),$(HOME)/.config)/systemd/user
install-user: build
	install -d "$(PREFIX)/bin" "$(SYSTEMD_USER)"
	install -m 0755 $(BIN)/vkinferd $(BIN)/vkctl "$(PREFIX)/bin/"
	sed 's|@BINDIR@|$(PREFIX)/bin|' contrib/systemd/vkinferd.service > "$(SYSTEMD_USER)/vkinferd.service"
	install -m 0644 contrib/systemd/vkinferd.socket "$(SYSTEMD_USER)/"
	@systemctl --user daemon-reload 2>/dev/null || echo "(no systemd user session: run systemctl --user daemon-reload in one)"
	@echo "installed; start with: systemctl --user enable --now vkinferd.socket"

clean:
	rm -rf $(BIN)
