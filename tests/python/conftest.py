"""Shared fixtures. Tests run against the *installed* bpekit (a wheel in a venv)."""

from __future__ import annotations

import functools
import lzma
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # for reference/bpe_ref.py

DATA = Path(os.environ.get("BPEKIT_DATA", ROOT.parent / "shared" / "data"))


def corpus(name: str, limit: int) -> str:
    """The first `limit` bytes (cut at a line) of ../shared/data/<name>.txt.xz, or skip."""
    path = DATA / f"{name}.txt.xz"
    if not path.exists():
        pytest.skip(f"{path} not found (set BPEKIT_DATA to the shared data directory)")
    with lzma.open(path, "rb") as f:
        raw = f.read(limit)
    return raw[: raw.rfind(b"\n") + 1].decode("utf-8", "replace")


def on_route(enc, route: str):
    """A copy of Encoding `enc` whose encode_ordinary takes `route`: "builtin" (the
    CPython builtin the library makes, _lowlevel.PYTHON_ENCODER) or "cffi" (cffi calls, as on
    PyPy or with BPEKIT_PYTHON_BUILTIN=0)."""
    import pickle

    from bpekit._route import drop_builtins

    copy = pickle.loads(pickle.dumps(enc))
    if route == "cffi":
        drop_builtins(copy)
    elif copy._fast is None:
        pytest.skip("no builtin on this interpreter (not CPython, free-threaded, or BPEKIT_PYTHON_BUILTIN=0)")
    return copy


@pytest.fixture(autouse=True, scope="session")
def _not_the_source_tree():
    import bpekit

    if os.environ.get("BPEKIT_ALLOW_SOURCE_TREE") != "1":
        assert not Path(bpekit.__file__).resolve().is_relative_to(ROOT / "python"), (
            f"bpekit was imported from the source tree ({bpekit.__file__}); "
            "run the tests through `make test`, which installs the wheel into a venv"
        )


@functools.lru_cache(maxsize=None)
def real_pair(name: str) -> tuple[object, object]:
    """OpenAI's encoding `name` in both bpekit and tiktoken, from the shared rank files (or skip)."""
    import bpekit

    path = DATA / f"{name}.tiktoken"
    if not path.exists():
        pytest.skip(f"{path} not found (set BPEKIT_DATA to the shared data directory)")
    tiktoken = pytest.importorskip("tiktoken", reason="tiktoken (a test dependency) is not installed")
    from tiktoken.load import load_tiktoken_bpe

    from bpekit._registry import PRESETS

    ours = bpekit.get_encoding(name, data_dir=DATA)
    _, _, pat, specials, n_vocab = PRESETS[name]
    tk = tiktoken.Encoding(name, pat_str=pat, mergeable_ranks=load_tiktoken_bpe(str(path)), special_tokens=specials, explicit_n_vocab=n_vocab)
    return ours, tk
