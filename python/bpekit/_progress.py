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
