"""Reads tiktoken's ``.tiktoken`` format in Python (for ``Encoding.mergeable_ranks``)."""

from __future__ import annotations

import base64


def parse(data: bytes) -> dict[bytes, int]:
    """``base64(token) rank`` lines → ``{token: rank}`` (what tiktoken's loader returns)."""
    return {base64.b64decode(tok): int(rank) for tok, rank in (line.split() for line in data.splitlines() if line)}
