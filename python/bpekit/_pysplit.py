"""The document split of ``bpekit_docs_split`` written in Python, used only when the
loaded library does not have it. It makes a Python object per document; the
library's split does not."""

from __future__ import annotations

import json
from array import array
from typing import Any, Iterable

from ._errors import InvalidUtf8Error
from .corpus import CorpusError


def _decode(raw: bytes, errors: str, source: str, offset: int, line: int) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        if errors == "replace":
            return raw.decode("utf-8", "replace")
        if errors == "skip":
            return None
        raise InvalidUtf8Error(
            f"{source}: invalid UTF-8 at byte offset {offset + e.start} (line {line + raw[: e.start].count(10)})"
        ) from None


def _key(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


class _Out:
    def __init__(self, doc_cap: int | None, max_chars: int | None) -> None:
        self.buf = bytearray()
        self.spans = array("Q")
        self.chars = self.skipped = 0
        self.stopped = False
        self.doc_cap, self.max_chars = doc_cap, max_chars

    def add(self, text: str) -> None:
        if self.doc_cap is not None and len(text) > self.doc_cap:
            text = text[: self.doc_cap]
        raw = text.encode("utf-8")
        self.spans.extend((len(self.buf), len(self.buf) + len(raw)))
        self.buf += raw
        self.chars += len(text)
        if self.max_chars is not None and self.chars > self.max_chars:
            self.stopped = True


def split(
    data: bytes, layout: int, separator: bytes | None, key: str, errors: str, doc_cap: int | None,
    max_chars: int | None, source: str, base_offset: int, base_line: int,
) -> tuple[bytes, array, int, int, int, int, bool]:
    """``(data, spans, n, chars, skipped, consumed, stopped)`` of one chunk."""
    out = _Out(doc_cap, max_chars)
    pieces: list[tuple[int, int, int]] = []  # (start, end, end with terminator)
    if layout == 0:
        pieces.append((0, len(data), len(data)))
    elif layout in (1, 3):
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            end, nxt = (len(data), len(data)) if nl < 0 else (nl, nl + 1)
            e = end - 1 if end > pos and data[end - 1] == 13 else end
            pieces.append((pos, e, nxt))
            pos = nxt
    else:
        assert separator is not None
        pos = 0
        while pos <= len(data):
            q = data.find(separator, pos)
            end, nxt = (len(data), len(data)) if q < 0 else (q, q + len(separator))
            if end > pos:
                pieces.append((pos, end, nxt))
            if q < 0:
                break
            pos = nxt
    consumed = len(data)
    for start, end, nxt in pieces:
        line = base_line + data[:start].count(10)
        text = _decode(data[start:end], errors, source, base_offset + start, line)
        if text is None:
            out.skipped += 1
            continue
        if layout == 3:
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except ValueError as e:
                raise CorpusError(f"{source}:{line}: not JSON ({e})") from None
            value = _key(obj, key)
            if value is None:
                raise CorpusError(f'{source}:{line}: key "{key}" missing')
            if not isinstance(value, str):
                raise CorpusError(f'{source}:{line}: key "{key}" is not a string')
            text = value
        out.add(text)
        if out.stopped:
            consumed = nxt
            break
    return bytes(out.buf), out.spans, len(out.spans) // 2, out.chars, out.skipped, consumed, out.stopped


def split_strings(
    values: Iterable[str | None], errors: str, doc_cap: int | None, max_chars: int | None
) -> tuple[bytes, array, int, int, int, bool]:
    """``(data, spans, n, chars, skipped, stopped)`` of an Arrow string column's values."""
    out = _Out(doc_cap, max_chars)
    for v in values:
        if v is None:
            out.skipped += 1
            continue
        out.add(v)
        if out.stopped:
            break
    return bytes(out.buf), out.spans, len(out.spans) // 2, out.chars, out.skipped, out.stopped
