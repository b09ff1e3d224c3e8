"""Shared fixtures. Tests run against the *installed* bpekit (a wheel in a venv)."""

from __future__ import annotations

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


@pytest.fixture(autouse=True, scope="session")
def _not_the_source_tree():
    import bpekit

    if os.environ.get("BPEKIT_ALLOW_SOURCE_TREE") != "1":
        assert not Path(bpekit.__file__).resolve().is_relative_to(ROOT / "python"), (
            f"bpekit was imported from the source tree ({bpekit.__file__}); "
            "run the tests through `make test`, which installs the wheel into a venv"
        )
