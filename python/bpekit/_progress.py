"""Progress display for training: a tqdm bar if tqdm is installed, else a plain line."""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Any, Iterator


def _enabled(flag: bool | None) -> bool:
    if flag is None:
        return sys.stderr is not None and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    return bool(flag)


class _Bar:
    def __init__(self, desc: str, unit: str, total: int | None = None) -> None:
        try:
            from tqdm.auto import tqdm

            self._tqdm: Any = tqdm(desc=desc, unit=unit, total=total, unit_scale=True, leave=True)
        except ImportError:
            self._tqdm = None
        self.desc, self.unit, self.n = desc, unit, 0

    def set(self, n: int, total: int | None = None) -> None:
        if self._tqdm is not None:
            if total is not None and self._tqdm.total != total:
                self._tqdm.total = total
            self._tqdm.update(n - self._tqdm.n)
        else:
            of = f"/{total}" if total else ""
            sys.stderr.write(f"\r{self.desc}: {n}{of} {self.unit}")
            sys.stderr.flush()
        self.n = n

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
        else:
            sys.stderr.write("\n")


class _Null:
    def update(self) -> None:
        pass


class _Counting:
    def __init__(self, trainer: Any) -> None:
        self.trainer, self.bar = trainer, _Bar("counting", "B")

    def update(self) -> None:
        self.bar.set(self.trainer.progress()["bytes"])


@contextlib.contextmanager
def counting(trainer: Any, *, enabled: bool | None) -> Iterator[Any]:
    """Yields an object whose ``update()`` refreshes a bytes-counted bar."""
    if not _enabled(enabled):
        yield _Null()
        return
    c = _Counting(trainer)
    try:
        yield c
    finally:
        c.bar.close()


@contextlib.contextmanager
def merging(trainer: Any, *, enabled: bool | None) -> Iterator[None]:
    """Shows merges done while the body (a native finish, GIL released) runs."""
    if not _enabled(enabled):
        yield
        return
    bar = _Bar("merging", "merges")
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.1):
            p = trainer.progress()
            bar.set(p["merges_done"], p["merges_total"] or None)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join()
        p = trainer.progress()
        bar.set(p["merges_done"], p["merges_total"] or None)
        bar.close()


# ==== Corpus pipelines: bytes, documents, MB/s, ETA ====


class _Throughput:
    """One status line on stderr, redrawn at most every 0.2 s."""

    def __init__(self, desc: str, total: int | None) -> None:
        import time

        self._time = time.monotonic
        self.desc, self.total = desc, total
        self.start = self.last = self._time()
        self.done = self.docs = 0

    def update(self, done: int, docs: int) -> None:
        self.done, self.docs = done, docs
        now = self._time()
        if now - self.last >= 0.2:
            self.last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        line = f"{self.desc}: {self.done / 1e6:,.1f}"
        if self.total:
            line += f"/{self.total / 1e6:,.1f}"
        line += f" MB, {self.docs:,} documents, {rate / 1e6:,.1f} MB/s"
        if self.total and rate > 0 and self.done <= self.total:
            eta = int((self.total - self.done) / rate)
            line += f", ETA {eta // 3600}:{eta // 60 % 60:02d}:{eta % 60:02d}"
        sys.stderr.write("\r" + line + "\x1b[K")
        sys.stderr.flush()

    def close(self) -> None:
        self._draw(self._time())
        sys.stderr.write("\n")
        sys.stderr.flush()


@contextlib.contextmanager
def throughput(desc: str, total_bytes: int | None, *, enabled: bool | None) -> Iterator[Any]:
    """Yields an object whose ``update(bytes_done, documents)`` refreshes a line on
    stderr (only when stderr is a terminal, unless ``enabled`` says otherwise)."""
    if not _enabled(enabled):
        yield _NullThroughput()
        return
    bar = _Throughput(desc, total_bytes)
    try:
        yield bar
    finally:
        bar.close()


class _NullThroughput:
    def update(self, done: int, docs: int) -> None:
        pass
