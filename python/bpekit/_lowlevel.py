"""Loads the bundled native library with cffi in ABI mode and wraps calls into it.

Every call into the library goes through :func:`rustcall`, which turns a status code
and a ``bpekit_error`` into a typed exception.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable

from ._errors import error_for
from ._ffi import ffi

#: The ABI this Python package was written against (``BPEKIT_ABI_VERSION``).
EXPECTED_ABI_VERSION = 1

_NAMES = {"linux": "libbpekit.so", "darwin": "libbpekit.dylib", "win32": "bpekit.dll"}


def _library_path() -> Path:
    override = os.environ.get("BPEKIT_LIBRARY")
    if override:
        return Path(override)
    name = next((n for p, n in _NAMES.items() if sys.platform.startswith(p)), "libbpekit.so")
    return Path(__file__).resolve().parent / "_native" / name


def _load() -> Any:
    path = _library_path()
    flags = 0
    if sys.platform != "win32":
        # RTLD_NOW: fail at import on a broken library, not at the first call.
        # RTLD_NODELETE on macOS: keep the Rust library mapped until exit, so that its
        # thread-local destructors (rayon workers) never run after an unload.
        flags = ffi.RTLD_NOW | (ffi.RTLD_NODELETE if sys.platform == "darwin" else 0)
    try:
        lib = ffi.dlopen(str(path), flags)
    except OSError as e:
        raise ImportError(f"bpekit: cannot load the native library {path}: {e}") from e
    found = lib.bpekit_abi_version()
    if found != EXPECTED_ABI_VERSION:
        raise ImportError(
            f"bpekit: native library {path} has ABI version {found}, "
            f"but this Python package needs {EXPECTED_ABI_VERSION}; reinstall bpekit"
        )
    return lib


lib = _load()


def rustcall(func: Callable[..., int], *args: Any) -> None:
    """Calls a fallible export with a trailing ``bpekit_error **`` and raises on failure."""
    err = ffi.new("bpekit_error **")
    status = func(*args, err)
    if status != 0:
        e = err[0]
        try:
            message = ffi.string(lib.bpekit_error_message(e)).decode("utf-8", "replace")
            code = lib.bpekit_error_code(e)
        finally:
            lib.bpekit_error_free(e)
        raise error_for(code, message)


def version() -> str:
    """The native library's version string."""
    return ffi.string(lib.bpekit_version()).decode("ascii")
