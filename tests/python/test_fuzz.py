"""Stateful fuzzing of the Python API (issue 13): hypothesis runs random sequences of
calls — encode and its variants, decode and its variants, counts, NumPy, batches, with
random texts (lone surrogates, NULs, special tokens inside special tokens, long runs,
texts over the 64 KiB scratch buffers) and random allowed/disallowed sets (some given as
one-pass iterators) — on the calling thread and on a thread pool at once, with pickles,
copies and close() in between (a close while the pool still uses the Encoding too).

Every result is checked against tiktoken with the same ranks and special tokens (the
same value, or an exception that is an instance of tiktoken's), and every call run on
the pool against a single-threaded replay. A closed Encoding raises ValueError (or, for
calls that need no native call, gives the correct result).

The default run is short (part of the normal suite). ``BPEKIT_FUZZ_SECONDS=n`` runs each
encoding's machine for about n seconds (``make fuzz-python``).
"""

from __future__ import annotations

import copy
import os
import pickle
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

import bpekit
from conftest import DATA, real_pair

tiktoken = pytest.importorskip("tiktoken", reason="tiktoken (a test dependency) is not installed")

FUZZ_SECONDS = float(os.environ.get("BPEKIT_FUZZ_SECONDS", "0"))

# Special tokens of the toy encodings: none is a prefix of another (where one is, which
# of them tiktoken matches depends on its hash order), some hold others inside.
TOY_SPECIALS = {
    "toy": ["<|endoftext|>", "<|end|>", "<<|end|>>", "<|fim_prefix|>"],
    "toy-mixed-starts": ["[<|endoftext|>]", "<|end|>", "é\0é", "<|x"],
    "toy-no-specials": [],
}
NOT_SPECIAL = ["foo", "<|", "a", "\0", "<|end", "é"]
FRAGMENTS = [
    "<|endoftext|>", "<|end|>", "<<|end|>>", "<|fim_prefix|>", "[<|endoftext|>]", "é\0é", "<|x",
    "<|end", "ndoftext|>", "<|endo<|endoftext|>ftext|>", "<|", "|>", "<", ">", "[", "]",
    "\0", "\ud800", "\udfff", "\udbff", "é", "🙂", "中文", "ｱ", "\u200b", "\x85", "\u2028",
    " ", "  ", "\n", "\r\n", "\t", "'s", "'S", "'ll", "123", "1234567", "-=", "foo", "a", "hello", " world",
]
RUNS = ["a", " ", "1", "-=", "\n", "é", "ab ", "<|end|>", "🙂", "\0"]
# Over 64 KiB of UTF-8 (past the scratch buffers), in short pieces (cheap for tiktoken).
BIG = ["1" * 70_000, "ab " * 25_000, "é 1" * 18_000]


def texts(surrogates: bool = True, max_pieces: int = 12) -> st.SearchStrategy[str]:
    piece = st.one_of(
        st.sampled_from(FRAGMENTS if surrogates else [f for f in FRAGMENTS if not 0xD800 <= ord(f[0]) <= 0xDFFF]),
        st.text(max_size=8),
        st.builds(lambda s, n: s * n, st.sampled_from(RUNS), st.integers(1, 3000)),
        *([st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)] if surrogates else []),
    )
    return st.one_of(st.lists(piece, max_size=max_pieces).map("".join), st.sampled_from(BIG))


def special_sets(specials: list[str]) -> tuple[st.SearchStrategy, st.SearchStrategy]:
    names = st.sampled_from(specials + NOT_SPECIAL)
    allowed = st.one_of(st.just(frozenset()), st.just("all"), st.frozensets(names, max_size=4))
    disallowed = st.one_of(st.just("all"), st.just(()), st.frozensets(names, max_size=4))
    return allowed, disallowed


def outcome(f, *args):  # noqa: ANN001, ANN002, ANN201
    try:
        return f(*args)
    except Exception as e:  # noqa: BLE001
        return e


def same(ours: object, ref: object, what: object) -> None:
    """Equal results, or our exception is an instance of tiktoken's exception's class."""
    if isinstance(ref, BaseException):
        assert isinstance(ours, type(ref)), (what, ours, ref)
    else:
        assert not isinstance(ours, BaseException), (what, ours, ref)
        assert ours == ref, (what, ours, ref)


@dataclass(frozen=True)
class Call:
    """One API call: ``ours(enc)`` on bpekit, ``ref(tk)`` the same on tiktoken, both
    giving comparable values (lists, bytes, str, int)."""

    method: str
    args: tuple
    kwargs: tuple = ()  # (name, value) pairs
    as_iter: frozenset = field(default_factory=frozenset)  # argument names given to bpekit as one-pass iterators

    def _kw(self, for_ours: bool) -> dict:
        out = {}
        for k, v in self.kwargs:
            if k in ("allowed_special", "disallowed_special") and v not in ("all", ()):
                v = iter(sorted(v)) if for_ours and k in self.as_iter else set(v)
            out[k] = v
        return out

    def ours(self, enc: bpekit.Encoding) -> object:
        kw = self._kw(True)
        args = tuple(iter(a) if f"arg{i}" in self.as_iter else a for i, a in enumerate(self.args))
        m = self.method
        if m == "encode_to_numpy":
            r = enc.encode_to_numpy(*args, **kw)
            assert r.dtype == np.uint32
            return r.tolist()
        if m == "encode_batch_to_numpy":
            flat, offs = enc.encode_batch_to_numpy(*args, **kw)
            assert flat.dtype == np.uint32 and offs.dtype == np.uint64 and len(offs) == len(self.args[0]) + 1
            return [flat[offs[i] : offs[i + 1]].tolist() for i in range(len(offs) - 1)]
        if m == "encode_with_unstable":
            stable, completions = enc.encode_with_unstable(*args, **kw)
            return stable, completions
        if m == "decode_numpy":
            return enc.decode(np.array(self.args[0], dtype=np.int64))
        return getattr(enc, m)(*args, **kw)

    def ref(self, tk: object) -> object:
        kw = self._kw(False)
        kw.pop("num_threads", None)
        m, a = self.method, self.args
        if m in ("encode_batch", "encode_batch_to_numpy"):
            return [tk.encode(t, **kw) for t in a[0]]
        if m == "encode_ordinary_batch":
            return [tk.encode_ordinary(t) for t in a[0]]
        if m == "encode_to_numpy":
            return tk.encode(*a, **kw)
        if m == "count":
            return len(tk.encode(*a, **kw))
        if m == "encode_with_unstable":
            stable, completions = tk.encode_with_unstable(*a, **kw)
            return stable, sorted(list(c) for c in completions)
        if m == "decode_numpy":
            return tk.decode(list(a[0]))
        return getattr(tk, m)(*a, **kw)


def calls(specials: list[str], n_vocab: int, token_bytes: list[bytes]) -> st.SearchStrategy[Call]:
    allowed, disallowed = special_sets(specials)
    policy = st.tuples(allowed, disallowed).map(lambda p: (("allowed_special", p[0]), ("disallowed_special", p[1])))
    iters = st.frozensets(st.sampled_from(["allowed_special", "disallowed_special"]))  # one-pass special sets
    arg_iter = st.sampled_from([frozenset(), frozenset(["arg0"])])  # one-pass texts or ids
    special_ids = list(range(n_vocab - len(specials), n_vocab)) if specials else []
    one_id = st.one_of(st.integers(0, n_vocab + 3), st.sampled_from(special_ids or [0]), st.sampled_from([2**32 - 1, -1, 2**32]))
    ids = st.lists(one_id, max_size=30)
    good_ids = st.lists(st.integers(0, n_vocab - 1), max_size=30)
    text = texts()
    return st.one_of(
        st.builds(lambda t, p, i: Call("encode", (t,), p, i), text, policy, iters),
        st.builds(lambda t: Call("encode", (t,)), text),
        st.builds(lambda t: Call("encode_ordinary", (t,)), text),
        st.builds(lambda t, p, i: Call("count", (t,), p, i), text, policy, iters),
        st.builds(lambda t, p: Call("encode_to_numpy", (t,), p), text, policy),
        st.builds(
            lambda ts, p, i, j, n: Call("encode_batch", (tuple(ts),), (*p, ("num_threads", n)), i | j),
            st.lists(text, max_size=5), policy, iters, arg_iter, st.integers(0, 4),
        ),
        st.builds(lambda ts, i: Call("encode_ordinary_batch", (tuple(ts),), (), i), st.lists(text, max_size=5), arg_iter),
        st.builds(lambda ts, p: Call("encode_batch_to_numpy", (tuple(ts),), p), st.lists(text, max_size=4), policy),
        st.builds(
            lambda t, p: Call("encode_with_unstable", (t,), p),
            texts(surrogates=False, max_pieces=3).filter(lambda t: len(t) < 200), policy,
        ),
        st.builds(lambda i, e, it: Call("decode", (tuple(i),), (("errors", e),), it), ids, st.sampled_from(["replace", "strict", "ignore"]), arg_iter),
        st.builds(lambda i, it: Call("decode_bytes", (tuple(i),), (), it), ids, arg_iter),
        st.builds(lambda i: Call("decode_numpy", (tuple(i),)), good_ids),
        st.builds(lambda b: Call("decode_batch", (tuple(map(tuple, b)),)), st.lists(ids, max_size=4)),
        st.builds(lambda b: Call("decode_bytes_batch", (tuple(map(tuple, b)),)), st.lists(ids, max_size=4)),
        st.builds(lambda i: Call("decode_tokens_bytes", (tuple(i),)), ids),
        st.builds(lambda i: Call("decode_with_offsets", (tuple(i),)), good_ids),
        st.builds(lambda i: Call("decode_single_token_bytes", (i,)), one_id),
        st.builds(lambda b: Call("encode_single_token", (b,)), st.sampled_from(token_bytes) | st.binary(max_size=4)),
        st.builds(lambda t: Call("encode_single_token", (t,)), st.sampled_from(specials or ["x"]) | st.text(max_size=3)),
    )


class EncodingMachine(RuleBasedStateMachine):
    """One bpekit Encoding at a time (replaced by pickles and copies, closed at random),
    a tiktoken reference, and a pool of 3 threads running calls concurrently."""

    master: bpekit.Encoding  # set per encoding by `machine_for`; never closed
    tk: object
    call_strategy: st.SearchStrategy[Call]

    def __init__(self) -> None:
        super().__init__()
        self.enc = copy.copy(self.master)
        self.generation = 0
        self.pool = ThreadPoolExecutor(3)
        self.pending: list[tuple[Call, object, object, int]] = []  # call, future, reference, generation
        self.ran_on_pool: list[tuple[Call, object]] = []

    def teardown(self) -> None:
        try:
            self.drain()
            # the single-threaded replay of everything the pool ran
            for call, result in self.ran_on_pool:
                if not (isinstance(result, ValueError) and "closed" in str(result)):
                    same(outcome(call.ours, self.master), result, ("replay", call))
        finally:
            self.pool.shutdown(wait=True)

    @rule(data=st.data())
    def call_here(self, data: st.DataObject) -> None:
        call = data.draw(self.call_strategy, label="call")
        same(outcome(call.ours, self.enc), outcome(call.ref, self.tk), call)

    @rule(data=st.data(), n=st.integers(1, 4))
    def call_on_pool(self, data: st.DataObject, n: int) -> None:
        for _ in range(n):
            call = data.draw(self.call_strategy, label="pool call")
            future = self.pool.submit(outcome, call.ours, self.enc)
            self.pending.append((call, future, outcome(call.ref, self.tk), self.generation))

    @rule()
    def drain(self) -> None:
        pending, self.pending = self.pending, []
        for call, future, ref, generation in pending:
            got = future.result(timeout=300)
            if generation != self.generation and isinstance(got, ValueError) and "closed" in str(got):
                continue  # closed while it waited: refused, as documented
            same(got, ref, ("pool", call))
            self.ran_on_pool.append((call, got))

    def _replace(self, new: bpekit.Encoding, close_old: bool) -> None:
        if close_old:
            self.enc.close()  # the pool may still be using it
            self.generation += 1
        self.enc = new

    @rule(close_old=st.booleans())
    def pickle_round_trip(self, close_old: bool) -> None:
        if self.enc._raw:
            self._replace(pickle.loads(pickle.dumps(self.enc)), close_old)

    @rule(how=st.sampled_from([copy.copy, copy.deepcopy]), close_old=st.booleans())
    def copy(self, how, close_old: bool) -> None:  # noqa: ANN001
        if self.enc._raw:
            self._replace(how(self.enc), close_old)

    @rule()
    def close_and_reopen(self) -> None:
        self._replace(copy.copy(self.master), True)

    @rule(data=st.data())
    def closed_refuses(self, data: st.DataObject) -> None:
        closed = pickle.loads(pickle.dumps(self.master)) if data.draw(st.booleans()) else copy.copy(self.master)
        closed.close()
        call = data.draw(self.call_strategy, label="call on a closed Encoding")
        got = outcome(call.ours, closed)
        if not (isinstance(got, ValueError) and "closed" in str(got)):
            same(got, outcome(call.ref, self.tk), ("closed", call))

    @precondition(lambda self: self.enc._raw)
    @invariant()
    def properties_agree(self) -> None:
        assert self.enc.n_vocab == self.tk.n_vocab
        assert self.enc.special_tokens_set == self.tk.special_tokens_set
        assert self.enc.pat_str == self.tk._pat_str


def toy_pair(kind: str) -> tuple[bpekit.Encoding, object]:
    corpus = ["The quick brown fox jumps over the lazy dog. " * 30, "def f(x):\n    return x * 2\n" * 20,
              "héllo 你好 🙂 1234567 -=-=-= " * 10, "aaaa    \n\n" * 10]
    trained = bpekit.train(corpus, vocab_size=700)
    ranks = trained.mergeable_ranks
    specials = {t: len(ranks) + i for i, t in enumerate(TOY_SPECIALS[kind])}
    ours = bpekit.Encoding(kind, pat_str=trained.pat_str, mergeable_ranks=ranks, special_tokens=specials)
    tk = tiktoken.Encoding(kind, pat_str=trained.pat_str, mergeable_ranks=ranks, special_tokens=specials)
    return ours, tk


def fuzz_settings(examples: int, steps: int) -> settings:
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )


# (o200k_base only in the long mode: loading it takes a few seconds)
@pytest.mark.parametrize("name", ["toy", "toy-mixed-starts", "toy-no-specials", "cl100k_base"] + ["o200k_base"] * (FUZZ_SECONDS > 0))
def test_fuzz_api(name):
    ours, tk = toy_pair(name) if name.startswith("toy") else real_pair(name)
    specials = sorted(ours.special_tokens_set)
    token_bytes = [ours.decode_single_token_bytes(i) for i in range(0, ours.n_vocab - len(specials), max(1, ours.n_vocab // 300))]

    class Machine(EncodingMachine):
        master = ours

    Machine.tk = tk
    Machine.call_strategy = calls(specials, ours.n_vocab, token_bytes)
    if FUZZ_SECONDS == 0:
        run_state_machine_as_test(Machine, settings=fuzz_settings(examples=6, steps=12))
        return
    deadline = time.monotonic() + FUZZ_SECONDS
    rounds = 0
    while time.monotonic() < deadline:
        run_state_machine_as_test(Machine, settings=fuzz_settings(examples=20, steps=40))
        rounds += 1
    print(f"{name}: {rounds * 20} machines of up to 40 steps in {FUZZ_SECONDS:.0f} s")
