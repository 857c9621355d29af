#!/usr/bin/env bash
# Installs what vkinfer needs to build, test and run on Debian 12 (bookworm):
# a C compiler for cgo, make, the Vulkan loader and Mesa's drivers (lavapipe
# runs the Vulkan backend on the CPU where there is no GPU), glslang for
# `make shaders`, python3-msgpack for the example client, python3-jinja2 for
# the chat template parity test's reference renders, systemd for
# `systemd-analyze verify`, curl and Node.js with npm for the HTTP API's
# client tests (the npm packages pinned in test/js/package-lock.json go to
# test/js/node_modules), and Go >= 1.21 (which fetches the exact toolchain
# go.mod asks for from the Go module proxy). It is idempotent, and runs
# itself under sudo when not started as root.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "setup-debian: run as root (no sudo here)" >&2; exit 1; }
	exec sudo bash "$0" "$@"
fi
export DEBIAN_FRONTEND=noninteractive

need_go() {
	local v
	command -v go >/dev/null 2>&1 || return 0
	v=$(go env GOVERSION 2>/dev/null | sed 's/^go//') || return 0
	# Go >= 1.21 switches to the toolchain go.mod names by itself.
	[ "$(printf '%s\n1.21\n' "$v" | sort -V | head -1)" != 1.21 ]
}

packages=(ca-certificates git make gcc libc6-dev pkg-config
	libvulkan1 libvulkan-dev mesa-vulkan-drivers vulkan-tools glslang-tools
	python3 python3-msgpack python3-jinja2 systemd curl)
# A node (and npm) from elsewhere, e.g. NodeSource, is kept: Debian's would
# conflict with it.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

if need_go; then
	. /etc/os-release
	echo "deb http://deb.debian.org/debian ${VERSION_CODENAME}-backports main" \
		>/etc/apt/sources.list.d/vkinfer-backports.list
	apt-get update
	apt-get install -y "${packages[@]}"
	apt-get install -y -t "${VERSION_CODENAME}-backports" golang-1.23-go
	ln -sf /usr/lib/go-1.23/bin/go /usr/local/bin/go
	ln -sf /usr/lib/go-1.23/bin/gofmt /usr/local/bin/gofmt
else
	apt-get update
	apt-get install -y "${packages[@]}"
fi
go version
npm ci --prefix "$(dirname "$0")/../test/js" --no-audit --no-fund
