#!/usr/bin/env bash
# `make run`: starts vkinferd on a private socket with MODELS_DIR, streams
# PROMPT from MODEL with vkctl, then stops the daemon.
set -euo pipefail
: "${BIN:=bin}" "${MODELS_DIR:?}" "${MODEL:=stories260K}" "${PROMPT:=Once upon a time}"

rundir=$(mktemp -d)
sock="$rundir/vkinferd.sock"
"$BIN/vkinferd" --socket "$sock" --models-dir "$MODELS_DIR" --log-level warn &
daemon=$!
trap 'kill -TERM "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; rm -rf "$rundir"' EXIT

for _ in $(seq 1 100); do
	"$BIN/vkctl" --socket "$sock" ping >/dev/null 2>&1 && break
	kill -0 "$daemon" 2>/dev/null || { echo "run-demo: vkinferd exited during start-up" >&2; exit 1; }
	sleep 0.1
done
"$BIN/vkctl" --socket "$sock" prompt -v -n "${TOKENS:-200}" -m "$MODEL" "$PROMPT"
