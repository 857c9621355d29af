#!/usr/bin/env bash
# `make run`: starts vkinferd on a private socket with MODELS_DIR, streams
# PROMPT from MODEL with vkctl, then stops the daemon. DEVICE picks the
# backend: auto (a Vulkan GPU if there is one, else the CPU kernels), cpu,
# vulkan (any Vulkan device, lavapipe included) or vulkan:N. PROMPT_FLAGS
# go to vkctl prompt (e.g. "--temperature 0" for greedy decoding).
set -euo pipefail
: "${BIN:=bin}" "${MODELS_DIR:?}" "${MODEL:=stories260K}" "${PROMPT:=Once upon a time}" "${DEVICE:=auto}"

rundir=$(mktemp -d)
sock="$rundir/vkinferd.sock"
"$BIN/vkinferd" --socket "$sock" --models-dir "$MODELS_DIR" --device "$DEVICE" --log-level warn &
daemon=$!
trap 'kill -TERM "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; rm -rf "$rundir"' EXIT

for _ in $(seq 1 100); do
	"$BIN/vkctl" --socket "$sock" ping >/dev/null 2>&1 && break
	kill -0 "$daemon" 2>/dev/null || { echo "run-demo: vkinferd exited during start-up" >&2; exit 1; }
	sleep 0.1
done
# shellcheck disable=SC2086 # PROMPT_FLAGS is a list of flags
"$BIN/vkctl" --socket "$sock" prompt -v -n "${TOKENS:-200}" ${PROMPT_FLAGS:-} -m "$MODEL" "$PROMPT"
