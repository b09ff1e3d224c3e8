"""Slow, obvious byte-level BPE, the oracle the fast code is tested against.

train():  every step recounts all adjacent pairs (weighted by piece count), takes the
          highest count, ties to the smallest (left, right) pair, merges left to right.
encode(): tiktoken's rule: repeatedly merge the adjacent pair whose concatenation has
          the lowest rank, leftmost on ties.
"""

from __future__ import annotations

from collections import Counter


def _merge(word: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def train(pieces: Counter[bytes], vocab_size: int) -> list[tuple[int, int]]:
    words = {p: list(p) for p in pieces}
    merges: list[tuple[int, int]] = []
    while 256 + len(merges) < vocab_size:
        counts: Counter[tuple[int, int]] = Counter()
        for p, w in words.items():
            for a, b in zip(w, w[1:]):
                counts[(a, b)] += pieces[p]
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        new_id = 256 + len(merges)
        merges.append(best)
        words = {p: _merge(w, best, new_id) for p, w in words.items()}
    return merges


def encode_piece(piece: bytes, ranks: dict[bytes, int]) -> list[int]:
    parts = [bytes([b]) for b in piece]
    while len(parts) > 1:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            break
        i = best[1]
        parts[i : i + 2] = [parts[i] + parts[i + 1]]
    return [ranks[p] for p in parts]
