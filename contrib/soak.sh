#!/usr/bin/env bash
# `make soak`: starts vkinferd on a private socket with MODELS_DIR, puts it
# under mixed load with vksoak for SOAK_DURATION, then stops it with SIGTERM
# and checks it exits 0. DEVICE picks the backend (as vkinferd --device).
set -euo pipefail
: "${BIN:=bin}" "${MODELS_DIR:?}" "${SOAK_DURATION:=30s}" "${SOAK_CLIENTS:=16}" "${DEVICE:=auto}" "${SOAK_PARALLEL:=8}"

rundir=$(mktemp -d)
sock="$rundir/vkinferd.sock"
"$BIN/vkinferd" --socket "$sock" --models-dir "$MODELS_DIR" --log-level warn --parallel "$SOAK_PARALLEL" --device "$DEVICE" &
daemon=$!
trap 'kill -KILL "$daemon" 2>/dev/null || true; rm -rf "$rundir"' EXIT
for _ in $(seq 1 100); do
	"$BIN/vkctl" --socket "$sock" ping >/dev/null 2>&1 && break
	sleep 0.1
done
"$BIN/vksoak" --socket "$sock" --pid "$daemon" --duration "$SOAK_DURATION" --clients "$SOAK_CLIENTS"
kill -TERM "$daemon"
wait "$daemon"
echo "vkinferd exited 0 after SIGTERM"
