"""Every error code of the C header reaches Python: each ``BPEKIT_ERR_*`` that
``include/bpekit.h`` defines has an exception class with that code, the loaded library
agrees with the header, and a code no class has raises the base class."""

from __future__ import annotations

import re

import pytest

import bpekit
from bpekit import _errors
from bpekit._lowlevel import lib
from conftest import ROOT

HEADER = ROOT / "include" / "bpekit.h"
_DEFINE = re.compile(r"^\s*#\s*define\s+(BPEKIT_(?:OK|ERR_[A-Z0-9_]+))\s+(-?\d+)\s*$", re.M)


@pytest.fixture(scope="module")
def header_codes() -> dict[str, int]:
    if not HEADER.is_file():
        pytest.skip(f"{HEADER} not found (the tests run from a checkout of the repository)")
    codes = {name: int(value) for name, value in _DEFINE.findall(HEADER.read_text(encoding="utf-8"))}
    assert codes.get("BPEKIT_OK") == 0, "the header defines no BPEKIT_OK 0"
    del codes["BPEKIT_OK"]
    assert codes, f"no BPEKIT_ERR_* found in {HEADER}"
    return codes


def test_the_library_has_the_headers_codes(header_codes):
    for name, value in header_codes.items():
        found = getattr(lib, name, None)
        assert found == value, f"{name}: header {value}, installed package's cffi module {found}"


def test_every_header_code_has_an_exception_class(header_codes):
    missing = {name: value for name, value in header_codes.items() if value not in _errors.by_code}
    assert not missing, f"no exception class in bpekit/_errors.py for {missing}"
    for name, value in header_codes.items():
        cls = _errors.by_code[value]
        assert cls.code == value and issubclass(cls, bpekit.TokenizerError), name
        assert getattr(bpekit, cls.__name__) is cls, f"{cls.__name__} ({name}) is not exported by bpekit"
        assert cls.__name__ in bpekit.__all__, cls.__name__


def test_classes_have_distinct_codes_from_the_header(header_codes):
    classes = [c for c in vars(_errors).values() if isinstance(c, type) and issubclass(c, bpekit.TokenizerError)]
    subclasses = [c for c in classes if c is not bpekit.TokenizerError]
    assert len({c.code for c in subclasses}) == len(subclasses), {c.__name__: c.code for c in subclasses}
    assert {c.code for c in subclasses} <= set(header_codes.values())
    assert set(_errors.by_code.values()) == set(subclasses)


def test_unknown_codes_give_the_base_class():
    unused = max(_errors.by_code) + 1
    e = _errors.error_for(unused, "from a newer library")
    assert type(e) is bpekit.TokenizerError
    assert e.code == unused and str(e) == "from a newer library"
    known = _errors.error_for(lib.BPEKIT_ERR_UNKNOWN_TOKEN, "no such id")
    assert type(known) is bpekit.UnknownTokenError and isinstance(known, KeyError)
