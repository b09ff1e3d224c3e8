"""An encode that runs inside another on the same thread gets its own scratch space
(issue 13, finding 6): a garbage-collector callback or a finalizer may run in the middle
of any call that allocates, so an encode there must not overwrite the ids the outer call
has yet to read."""

from __future__ import annotations

import gc
from contextlib import contextmanager

import pytest

import bpekit
from conftest import on_route

SPECIALS = {"<|endoftext|>": 600, "<|end|>": 601}
# Outer texts of many lengths (so that collections fall at every point of the calls);
# "<" sends `encode`, on the cffi route, past `encode_ordinary` to its own native call
# (on the builtin route the builtins for its policies take it).
OUTER = [("The quick brown fox <jumps> over the lazy dog. " * (1 + i % 7))[: 20 + 13 * i] for i in range(60)]
INNER = "zzzz qqqq 12345 " * 9


@pytest.fixture(scope="module")
def enc() -> bpekit.Encoding:
    texts = ["The quick brown fox jumps over the lazy dog. " * 30, "zzzz qqqq 12345 " * 20]
    trained = bpekit.train(texts, vocab_size=600)
    return bpekit.Encoding("toy", pat_str=trained.pat_str, mergeable_ranks=trained.mergeable_ranks, special_tokens=SPECIALS)


class Reentry:
    """Runs `inner()` at each garbage collection while armed, from a gc callback or a
    finalizer, and records whether an outer call was running."""

    def __init__(self, inner, kind: str) -> None:  # noqa: ANN001
        self.inner, self.kind = inner, kind
        self.outer_running = False
        self.results: list[object] = []
        self.during_outer = 0

    def run(self) -> None:
        self.results.append(self.inner())
        self.during_outer += self.outer_running

    def callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.run()

    @contextmanager
    def armed(self):  # noqa: ANN201
        threshold = gc.get_threshold()
        gc.collect()
        self.live = True
        if self.kind == "gc callback":
            gc.callbacks.append(self.callback)
        else:
            _Finalizer(self)
        gc.set_threshold(1)  # a collection every other allocation of a container
        try:
            yield self
        finally:
            gc.set_threshold(*threshold)
            self.live = False
            if self.kind == "gc callback":
                gc.callbacks.remove(self.callback)
            gc.collect()


class _Finalizer:
    """Garbage (a cycle) whose finalizer runs the inner call and leaves a new one."""

    def __init__(self, owner: Reentry) -> None:
        self.owner, self.cycle = owner, self

    def __del__(self) -> None:
        if self.owner.live:
            self.owner.run()
            _Finalizer(self.owner)


CALLS = {
    "encode_ordinary": lambda e, t: e.encode_ordinary(t),
    "encode": lambda e, t: e.encode(t),
    "encode allowed": lambda e, t: e.encode(t, allowed_special="all"),
    "count": lambda e, t: e.count(t, disallowed_special={"<|end|>"}),
    "encode_batch": lambda e, t: e.encode_batch([t, t]),
    "decode": lambda e, t: e.decode(e._ids_of[t]),
}


@pytest.mark.parametrize("kind", ["gc callback", "finalizer"])
@pytest.mark.parametrize("route", ["builtin", "cffi"])
@pytest.mark.parametrize("outer", list(CALLS))
@pytest.mark.parametrize("inner", ["encode_ordinary", "encode", "count"])
def test_encode_inside_an_encode(enc, route, kind, outer, inner):
    enc = on_route(enc, route)
    enc._ids_of = {t: enc.encode_ordinary(t) for t in OUTER}
    outer_call, inner_call = CALLS[outer], CALLS[inner]
    want = [outer_call(enc, t) for t in OUTER]
    inner_want = inner_call(enc, INNER)
    hook = Reentry(lambda: inner_call(enc, INNER), kind)
    got = []
    with hook.armed():
        for _ in range(3):
            for t in OUTER:
                hook.outer_running = True
                got.append(outer_call(enc, t))
                hook.outer_running = False
    assert all(r == inner_want for r in hook.results)
    assert got == want * 3
    if outer == "decode" and route == "builtin" and hook.during_outer == 0:
        # Nothing can run inside it: the builtin reads the ids and makes one bytes
        # object (which the collector does not track), and `decode` one str.
        pytest.skip("the decode builtin allocates nothing the collector tracks: no hook runs inside it")
    assert hook.during_outer >= len(OUTER), "the hook must run inside the outer calls, or this test tests nothing"
