"""fork() at random moments while other threads use the library (issue 13, finding 4).

Worker threads loop batch encodes at several thread counts (so worker pools start and are
dropped all the time), train small vocabularies, and build fresh tokenizers whose first
long piece builds their long-piece table. The main thread forks at random moments; each
child batch-encodes, encodes a long piece on the tokenizer a worker was just building,
and trains, under an alarm. A child that waits on a lock held by a thread that does not
exist in it hangs: the alarm ends it and the test fails. A second test forks, in fresh
interpreters, while another thread builds the process's first named pattern.

BPEKIT_FORK_ROUNDS sets the number of forks (default 200, about 10 s on 2 cores),
BPEKIT_FORK_SEED the seed of the pauses between them (default: a random one), and
BPEKIT_FORK_PROCESSES the number of fresh interpreters (default 20, about 3 s).
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import threading
import time
import warnings

import pytest

import bpekit

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")

ROUNDS = int(os.environ.get("BPEKIT_FORK_ROUNDS", "200"))
CHILD_TIMEOUT = 20  # s; a child takes about 20 ms
TEXTS = ["the cat sat on the mat", "héllo wörld, 東京 🙂", "def f(x):\n    return x * 2\n"] * 10
CORPUS = ["low lower lowest newer wider", "the quick brown fox"] * 5
LONG = "a" * 10_000  # one piece of 10 KB: its first encode builds the tokenizer's long-piece table
# Exit statuses of a child, and its steps (it reports each one done through a pipe).
OK, WRONG, RAISED = 0, 1, 2
STEPS = ("batch encode", "long-piece encode", "training")


def _fresh_tokenizers(ranks: dict[bytes, int]):
    """Fresh Encodings of the same ranks, built one after another."""
    while True:
        yield bpekit.Encoding("fresh", pat_str=bpekit.CL100K_PATTERN, mergeable_ranks=ranks, special_tokens={})


def _child(report: int, enc, fresh, want, want_long, trained) -> int:
    """The work of a forked child (STEPS): every kind of call that could wait on the
    parent. Writes a byte to `report` after each step."""
    steps = (
        lambda: all(enc.encode_ordinary_batch(TEXTS, num_threads=n) == want for n in (0, 2, random.choice((1, 3, 5)))),
        lambda: fresh.encode_ordinary(LONG) == want_long,
        lambda: bpekit.train(CORPUS, vocab_size=280, num_threads=2, progress=False).mergeable_ranks == trained,
    )
    try:
        for step in steps:
            if not step():
                return WRONG
            os.write(report, b".")
        return OK
    except BaseException:  # noqa: BLE001
        return RAISED


def _wait(pid: int, timeout: float) -> int | None:
    """The child's wait status, or None if it is still running after `timeout` s."""
    deadline = time.monotonic() + timeout
    pause = 0.0002
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            return None
        time.sleep(pause)
        pause = min(pause * 2, 0.01)


def test_fork_at_random_moments():
    enc = bpekit.train(CORPUS * 4, vocab_size=300, progress=False)
    ranks = enc.mergeable_ranks
    want = [enc.encode_ordinary(t) for t in TEXTS]
    want_long = enc.encode_ordinary(LONG)
    trained = bpekit.train(CORPUS, vocab_size=280, progress=False).mergeable_ranks
    stop = threading.Event()
    errors: list[str] = []
    current = [next(_fresh_tokenizers(ranks))]  # the tokenizer being built or first used

    def batches(sizes):
        for n in itertools.cycle(sizes):
            if stop.is_set():
                return
            if enc.encode_ordinary_batch(TEXTS, num_threads=n) != want:
                errors.append(f"batch of {n} threads")

    def training():
        for n in itertools.cycle((0, 2, 3)):
            if stop.is_set():
                return
            if bpekit.train(CORPUS, vocab_size=280, num_threads=n, progress=False).mergeable_ranks != trained:
                errors.append(f"training on {n} threads")

    def first_uses():
        for tok in _fresh_tokenizers(ranks):
            if stop.is_set():
                return
            current[0] = tok
            if tok.encode_ordinary(LONG) != want_long:
                errors.append("long piece")

    def guarded(work, *args):
        try:
            work(*args)
        except BaseException as e:  # noqa: BLE001
            errors.append(f"{work.__name__}: {e!r}")

    workers = [
        threading.Thread(target=guarded, args=(batches, (0, 1, 2, 3))),
        threading.Thread(target=guarded, args=(batches, (4, 5, 6, 7, 8))),
        threading.Thread(target=guarded, args=(training,)),
        threading.Thread(target=guarded, args=(first_uses,)),
    ]
    for w in workers:
        w.start()
    hung: list[str] = []
    failed: list[str] = []
    rng = random.Random(int(os.environ.get("BPEKIT_FORK_SEED", "0")) or None)
    started = time.monotonic()
    try:
        for round_ in range(ROUNDS):
            time.sleep(rng.uniform(0, 0.003))
            fresh = current[0]
            read_end, write_end = os.pipe()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads running
                pid = os.fork()
            if pid == 0:
                signal.alarm(CHILD_TIMEOUT)
                os._exit(_child(write_end, enc, fresh, want, want_long, trained))
            os.close(write_end)
            status = _wait(pid, CHILD_TIMEOUT + 10)
            if status is None:  # the child's alarm did not end it: kill it
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            with os.fdopen(read_end, "rb") as f:
                step = STEPS[min(len(f.read()), len(STEPS) - 1)]
            if status is None or (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM):
                hung.append(f"round {round_}: {step}")
            elif not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == OK):
                failed.append(f"round {round_}: {step}, wait status {status}")
    finally:
        stop.set()
        for w in workers:
            w.join()
    elapsed = time.monotonic() - started
    print(f"{ROUNDS} forks in {elapsed:.1f} s")
    assert not hung, f"{len(hung)} of {ROUNDS} forked children hung: {hung[:10]}"
    assert not failed, f"children failed: {failed[:10]}"
    assert not errors, errors[:10]


# A fresh interpreter: a thread builds the first tokenizer of a named pattern (which builds
# the splitter's class tables, once per process) while the main thread forks; the child
# then builds one too.
_FIRST_PATTERN = r"""
import os, random, signal, sys, threading, time
import bpekit
ranks = {bytes([b]): b for b in range(256)}
def build():
    return bpekit.Encoding("t", pat_str=bpekit.CL100K_PATTERN, mergeable_ranks=ranks, special_tokens={})
thread = threading.Thread(target=build)
thread.start()
time.sleep(random.uniform(0, 0.008))
pid = os.fork()
if pid == 0:
    signal.alarm(%d)
    build()
    os._exit(0)
thread.join()
_, status = os.waitpid(pid, 0)
sys.exit(0 if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else 3)
"""


def test_fork_during_the_first_pattern():
    """A child forked while another thread builds the process's first named pattern (its
    one-time class tables) can build one too."""
    script = _FIRST_PATTERN % CHILD_TIMEOUT
    hung: list[tuple[int, int]] = []
    for i in range(int(os.environ.get("BPEKIT_FORK_PROCESSES", "20"))):
        done = subprocess.run([sys.executable, "-c", script], timeout=CHILD_TIMEOUT + 30, check=False)
        if done.returncode != 0:
            hung.append((i, done.returncode))
    assert not hung, f"forked children hung or failed (process, status): {hung}"
