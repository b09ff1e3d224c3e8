"""The Python host's scenario driver: runs cases.txt (argument 1) through the bpekit
package and prints one canonical JSON line per operation (README.md here)."""

from __future__ import annotations

import sys

import bpekit
from bpekit._lowlevel import lib

# The C status names, from the library's own constants.
NAMES = {getattr(lib, n): n for n in dir(lib) if n.startswith("BPEKIT_ERR_")}


def fnv(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def unhex(arg: str) -> bytes:
    return b"" if arg == "-" else bytes.fromhex(arg)


def text(arg: str) -> str:
    return unhex(arg).decode("utf-8")


def ids(arg: str) -> list[int]:
    return [int(x) for x in arg.split(",")]


def js(v: object) -> str:
    """Canonical JSON: no spaces; dicts in insertion order; strings are hex or names."""
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, list):
        return "[" + ",".join(js(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f'"{k}":{js(x)}' for k, x in v.items()) + "}"
    raise TypeError(type(v))


POLICIES = {
    "default": {},
    "all": {"allowed_special": "all"},
    "none": {"disallowed_special": ()},
}


class Case:
    def __init__(self) -> None:
        self.pattern: str | None = None
        self.specials: list[str] = []
        self.trainer: bpekit.Trainer | None = None
        self.tok: bpekit.Encoding | None = None

    def summary(self, tok: bpekit.Encoding) -> dict:
        specials = sorted(tok.special_tokens.items(), key=lambda kv: (kv[1], kv[0].encode().hex()))
        return {"vocab_size": tok.n_vocab, "file": fnv(tok.to_bytes()),
                "specials": [[t.encode().hex(), i] for t, i in specials]}

    def run(self, op: str, arg: str) -> object:
        if op == "trainer":
            self.pattern = bpekit.core._named_pattern(arg) if not arg.startswith("hex:") else text(arg[4:])
            self.specials = []
            self.trainer = None
            self.trainer = bpekit.Trainer(self.pattern)
            return True
        if op == "specials":
            tokens = [text(t) for t in arg.split(",")]
            self.trainer.set_special_tokens(tokens)
            self.specials = tokens
            return True
        if op == "feed":
            self.trainer.feed(unhex(arg))
            return True
        if op == "feed_batch":
            self.trainer.feed_batch([unhex(t) for t in arg.split(",")])
            return True
        if op == "finish":
            self.tok = self.trainer.finish(int(arg))
            return self.summary(self.tok)
        if op in ("encode", "count", "batch"):
            policy, data = arg.split(" ")
            kw = POLICIES[policy]
            if op == "encode":
                return self.tok.encode(text(data), **kw)
            if op == "count":
                return self.tok.count(text(data), **kw)
            return self.tok.encode_batch([text(t) for t in data.split(",")], num_threads=2, **kw)
        if op == "decode":
            raw = self.tok.decode_bytes(ids(arg))
            return {"bytes": raw.hex(), "text": self.tok.decode(ids(arg)).encode().hex()}
        if op == "stream":
            d = self.tok.decoder()
            return [d.add(i).encode().hex() for i in ids(arg)] + [d.flush().encode().hex()]
        if op == "normalize":
            self.tok = self.tok.with_normalization({"nfc": "NFC", "none": None}[arg])
            return {"file": fnv(self.tok.to_bytes())}
        if op == "reload":
            self.tok = bpekit.Encoding.from_bytes(self.tok.to_bytes())
            return {"file": fnv(self.tok.to_bytes())}
        if op == "corrupt":
            data = bytearray(self.tok.to_bytes())
            data[int(arg)] ^= 1
            return {"file": fnv(bpekit.Encoding.from_bytes(bytes(data)).to_bytes())}
        if op == "recount":
            table = self.trainer.export_counts()
            again = bpekit.Trainer(self.pattern)
            if self.specials:
                again.set_special_tokens(self.specials)
            again.add_counts(table)
            return {"table": fnv(table), "file": fnv(again.finish(int(arg)).to_bytes())}
        raise SystemExit(f"unknown op {op!r}")


def main(path: str) -> None:
    case, name, n = None, "", 0
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        op, _, arg = line.partition(" ")
        if op == "case":
            case, name, n = Case(), arg, 0
            continue
        try:
            out = '"ok":' + js(case.run(op, arg))
        except bpekit.TokenizerError as e:
            out = f'"error":"{NAMES.get(e.code, e.code)}"'
        print(f'{{"case":"{name}","op":{n},{out}}}')
        n += 1


if __name__ == "__main__":
    main(sys.argv[1])
