"""Worker pools. A process forked after batch encodes and training (multiprocessing's
default start method on Linux before 3.14, DataLoader workers, ...) can batch-encode and
train too: the library starts new worker pools in the child instead of waiting forever on
the parent's, whose threads the child does not have. And however many thread counts are
asked for, the pools kept stay few (test_fork_stress.py forks at random moments)."""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
import warnings

import pytest

import bpekit

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")

TEXTS = ["the cat sat on the mat", "héllo wörld, 東京 🙂", "def f(x):\n    return x * 2\n"] * 20


def _in_child(work, timeout: int = 60) -> None:
    """Runs `work()` in a forked child; fails if it raises, returns False, or hangs (the
    child then ends itself by SIGALRM after `timeout` s, so that no hung process is left
    holding pytest's output; the parent gives up 10 s later)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads running
        pid = os.fork()
    if pid == 0:
        signal.alarm(timeout)
        try:
            ok = work()
        except BaseException:  # noqa: BLE001
            traceback.print_exc()  # to pytest's captured stderr
            ok = False
        os._exit(0 if ok else 1)
    deadline = time.monotonic() + timeout + 10
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail(f"the forked child hung for {timeout:.0f} s")
        time.sleep(0.05)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child status {status}"


def test_batch_encode_and_train_after_fork():
    enc = bpekit.train(TEXTS, vocab_size=300, num_threads=2)
    want = [enc.encode_ordinary(t) for t in TEXTS]
    for n in (1, 2, 8):
        assert enc.encode_ordinary_batch(TEXTS, num_threads=n) == want  # the parent's pools
    trained = bpekit.train(TEXTS, vocab_size=300).mergeable_ranks

    def work() -> bool:
        return (
            all(enc.encode_ordinary_batch(TEXTS, num_threads=n) == want for n in (1, 2, 8))
            and bpekit.train(TEXTS, vocab_size=300).mergeable_ranks == trained
            and bpekit.train(TEXTS, vocab_size=300, num_threads=2).mergeable_ranks == trained
        )

    _in_child(work)
    assert enc.encode_ordinary_batch(TEXTS, num_threads=2) == want  # the parent's still work
    if sys.platform.startswith("linux"):
        _in_child(lambda: _in_child_twice(enc, want))


def _in_child_twice(enc: bpekit.Encoding, want: list) -> bool:
    """A grandchild: forked from a child that had started its own pools."""
    assert enc.encode_ordinary_batch(TEXTS, num_threads=2) == want
    _in_child(lambda: enc.encode_ordinary_batch(TEXTS, num_threads=2) == want, timeout=20)
    return True


def _live_threads() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc/self/task (Linux)")
def test_pools_stay_bounded():
    """Batch calls for 1..64 threads keep the pools of the 4 most recently used sizes, each
    of at most 4 threads per core (or the default count, if larger); a pool per count
    left ~2,000 threads alive. In a child, which starts with one thread."""
    enc = bpekit.train(TEXTS, vocab_size=300, num_threads=2)
    want = [enc.encode_ordinary(t) for t in TEXTS]
    per_pool = min(64, max(4 * (os.cpu_count() or 1), int(os.environ.get("RAYON_NUM_THREADS") or 0)))

    def work() -> bool:
        assert _live_threads() == 1
        for k in range(1, 65):
            assert enc.encode_ordinary_batch(TEXTS, num_threads=k) == want, k
        # A dropped pool's threads end once they notice.
        deadline = time.monotonic() + 20
        while _live_threads() > 1 + 4 * per_pool and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _live_threads() <= 1 + 4 * per_pool, (_live_threads(), per_pool)
        return True

    _in_child(work)
