#!/usr/bin/env python3
"""Render the chat templates the Go parity test checks, with Python's jinja2
set up as Hugging Face transformers' apply_chat_template sets it up, and
write the results to expected.json beside this script.

Run from this directory with Debian's python3-jinja2:

    python3 render.py /path/to/shared/models > expected.json

Templates come from templates/*.jinja (with bos/eos tokens from
templates.json) and from every GGUF file under the models directory that
carries tokenizer.chat_template (its bos/eos token text read from the
file's vocabulary). Each is rendered for every conversation in
conversations.json. A template that raises records the error instead.
"""

import hashlib
import json
import os
import struct
import sys
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))


def environment():
    """The environment transformers builds (trim_blocks, lstrip_blocks,
    loop controls, its tojson, raise_exception and strftime_now)."""

    def raise_exception(message):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
                          separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


# --- a minimal GGUF metadata reader (header only) ---

SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f",
           7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def gguf_metadata(path):
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            return None
        (version,) = struct.unpack("<I", f.read(4))
        if version < 2:
            return None
        _tensors, nkv = struct.unpack("<QQ", f.read(16))

        def string():
            (n,) = struct.unpack("<Q", f.read(8))
            return f.read(n).decode("utf-8", errors="surrogateescape")

        def value(typ):
            if typ in SCALARS:
                fmt = SCALARS[typ]
                return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]
            if typ == 8:
                return string()
            if typ == 9:
                (item, n) = struct.unpack("<IQ", f.read(12))
                return [value(item) for _ in range(n)]
            raise ValueError(f"{path}: unknown GGUF value type {typ}")

        meta = {}
        for _ in range(nkv):
            key = string()
            (typ,) = struct.unpack("<I", f.read(4))
            meta[key] = value(typ)
        return meta


def gguf_templates(models):
    out = {}
    for root, _dirs, files in os.walk(models):
        for name in sorted(files):
            if not name.endswith(".gguf"):
                continue
            path = os.path.join(root, name)
            meta = gguf_metadata(path)
            src = (meta or {}).get("tokenizer.chat_template")
            if not src:
                continue
            tokens = meta.get("tokenizer.ggml.tokens", [])

            def token(key):
                i = meta.get(key)
                return tokens[i] if i is not None and 0 <= i < len(tokens) else ""

            rel = os.path.relpath(path, models)
            out["gguf:" + rel] = {"source": src,
                                  "bos_token": token("tokenizer.ggml.bos_token_id"),
                                  "eos_token": token("tokenizer.ggml.eos_token_id")}
    return out


def main():
    models = sys.argv[1]
    with open(os.path.join(HERE, "templates.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    with open(os.path.join(HERE, "conversations.json"), encoding="utf-8") as f:
        conversations = json.load(f)
    templates = {}
    for name, info in manifest.items():
        with open(os.path.join(HERE, "templates", name + ".jinja"), encoding="utf-8") as f:
            templates[name] = dict(info, source=f.read())
    templates.update(gguf_templates(models))

    env = environment()
    result = {}
    for name in sorted(templates):
        t = templates[name]
        compiled = env.from_string(t["source"])
        renders = {}
        for conv_name, conv in conversations.items():
            try:
                text = compiled.render(messages=conv["messages"], tools=conv.get("tools"),
                                       documents=None,
                                       add_generation_prompt=conv["add_generation_prompt"],
                                       bos_token=t["bos_token"], eos_token=t["eos_token"])
                renders[conv_name] = {"text": text}
            except TemplateError as e:
                renders[conv_name] = {"error": str(e)}
            except Exception as e:  # a template bug (e.g. str + dict) fails the render too
                renders[conv_name] = {"error": f"{type(e).__name__}: {e}"}
        result[name] = {"source_sha256": hashlib.sha256(t["source"].encode("utf-8")).hexdigest(),
                        "renders": renders}
    json.dump({"jinja2": jinja2.__version__, "templates": result}, sys.stdout,
              ensure_ascii=False, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
