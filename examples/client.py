#!/usr/bin/env python3
"""Minimal vkinfer client: streams a completion from vkinferd.

Uses only the standard library and msgpack (Debian: python3-msgpack).
See docs/protocol.md for the protocol.

    python3 examples/client.py [--socket PATH] -m stories260K "Once upon a time"
"""
import argparse
import os
import socket
import struct
import sys

import msgpack


def default_socket():
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "vkinfer", "vkinferd.sock")
    return os.path.join("/tmp", "vkinfer-%d" % os.getuid(), "vkinferd.sock")


def send(sock, message):
    payload = msgpack.packb(message, use_bin_type=True)
    sock.sendall(struct.pack(">I", len(payload)) + payload)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        part = sock.recv(n - len(buf))
        if not part:
            raise ConnectionError("daemon closed the connection")
        buf += part
    return buf


def recv(sock):
    (length,) = struct.unpack(">I", recv_exact(sock, 4))
    return msgpack.unpackb(recv_exact(sock, length), raw=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", default=os.environ.get("VKINFER_SOCKET") or default_socket())
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("-n", "--max-tokens", type=int, default=64)
    ap.add_argument("--temperature", type=float)
    ap.add_argument("prompt")
    args = ap.parse_args()

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(args.socket)
    send(sock, {"op": "hello", "id": 0, "version": "1.0", "client": "example.py"})
    hello = recv(sock)
    if hello["op"] != "hello":
        sys.exit("refused: %s" % hello.get("message"))

    request = {"op": "generate", "id": 1, "model": args.model,
               "prompt": args.prompt, "max_tokens": args.max_tokens}
    if args.temperature is not None:
        request["options"] = {"temperature": args.temperature}
    send(sock, request)
    while True:
        frame = recv(sock)
        if frame["op"] == "chunk":
            sys.stdout.write(frame.get("text", ""))
            sys.stdout.flush()
        elif frame["op"] == "done":
            stats = frame.get("stats", {})
            sys.stdout.write("\n")
            sys.stderr.write("%d tokens, stop reason %s\n"
                             % (stats.get("generated_tokens", 0), stats.get("stop_reason")))
            return 0
        elif frame["op"] == "error":
            sys.stderr.write("error %s: %s\n" % (frame.get("code"), frame.get("message")))
            return 1


if __name__ == "__main__":
    sys.exit(main())
