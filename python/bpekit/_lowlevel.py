"""Loads the bundled native library with cffi in ABI mode and wraps calls into it.

Every fallible call into the library that may raise goes through :func:`rustcall`,
which turns a status code and a ``bpekit_error`` into a typed exception. Handles
(tokenizers, trainers) are owned by :class:`Handle`. The short-text fast paths, which
skip the error object, live in ``_route``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable, List, Tuple

from ._ffi import ffi

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
    # The header this package's cffi module was generated from says which ABI it needs.
    found, needed = lib.bpekit_abi_version(), lib.BPEKIT_ABI_VERSION
    if found != needed:
        raise ImportError(
            f"bpekit: native library {path} has ABI version {found}, "
            f"but this Python package needs {needed}; reinstall bpekit"
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
        # (imported here, not at the top: _errors reads its codes from `lib`)
        from ._errors import error_for

        raise error_for(code, message)


def version() -> str:
    """The native library's version string."""
    return ffi.string(lib.bpekit_version()).decode("ascii")


class Handle:
    """Owns one native handle: freed by ``close()``, ``with``, or garbage collection."""

    _free: Any = None
    # NULL when closed (or never opened): every native call refuses it with a status,
    # so hot paths may pass it unchecked and raise on the slow path (`_ptr`).
    _raw: Any = ffi.NULL

    def _own(self, ptr: Any) -> None:
        self._raw = ffi.gc(ptr, type(self)._free)

    @property
    def _ptr(self) -> Any:
        if not self._raw:
            raise ValueError(f"this {type(self).__name__} is closed")
        return self._raw

    def close(self) -> None:
        """Closes the handle (idempotent): later use raises ``ValueError``, and the native
        object is freed now, or, if a call on another thread is still using it, as soon as
        that call returns (each call holds a reference to it for its duration)."""
        self._raw = ffi.NULL

    def __enter__(self):  # noqa: ANN204
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- The CPython builtin for encode_ordinary (host-only C API) ----
# A call through cffi's ABI mode pays for libffi's argument handling, a bytes copy of
# the text and a GIL round trip, which on a short text is more than the encoding (the
# benchmark README has the numbers). The library can instead make a builtin function
# that CPython calls directly (`PYTHON_ENCODER` below). It needs the addresses of a few
# C API functions of this interpreter (all exported by every CPython 3), which ctypes
# knows, so the wheel stays py3-none. PyPy and free-threaded builds running without the
# GIL keep the cffi path; BPEKIT_PYTHON_BUILTIN=0 turns the builtin off. _route decides
# when the builtin is tried.

#: The host-only export that makes the builtin, and the type of its API table
#: (bpekit_host.h): the one place the package spells them (the other host-only calls
#: are in _route).
PYTHON_ENCODER = "bpekit_host_python_encoder"
PYTHON_API = "bpekit_host_python_api"

#: PYTHON_API member -> CPython C API function
_API_FUNCTIONS = {
    "unicode_as_utf8_and_size": "PyUnicode_AsUTF8AndSize",
    "unicode_get_length": "PyUnicode_GetLength",
    "unicode_as_utf8_string": "PyUnicode_AsUTF8String",
    "bytes_as_string_and_size": "PyBytes_AsStringAndSize",
    "list_new": "PyList_New",
    "list_set_item": "PyList_SetItem",
    "list_append": "PyList_Append",
    "long_from_unsigned_long": "PyLong_FromUnsignedLong",
    "cfunction_new_ex": "PyCFunction_NewEx",
    "capsule_new": "PyCapsule_New",
    "capsule_get_pointer": "PyCapsule_GetPointer",
    "inc_ref": "Py_IncRef",
    "dec_ref": "Py_DecRef",
    "err_set_string": "PyErr_SetString",
    "eval_save_thread": "PyEval_SaveThread",
    "eval_restore_thread": "PyEval_RestoreThread",
    "gil_state_check": "PyGILState_Check",
    "bytearray_from_string_and_size": "PyByteArray_FromStringAndSize",
    "bytearray_as_string": "PyByteArray_AsString",
    "tuple_get_item": "PyTuple_GetItem",
    "list_size": "PyList_Size",
    "list_get_item": "PyList_GetItem",
    "long_as_ssize_t": "PyLong_AsSsize_t",
    "err_occurred": "PyErr_Occurred",
    "tuple_size": "PyTuple_Size",
    "bytes_from_string_and_size": "PyBytes_FromStringAndSize",
    "unicode_from_string_and_size": "PyUnicode_FromStringAndSize",
}


def python_encoder_export() -> Any:
    """:data:`PYTHON_ENCODER` through ctypes' PyDLL, which keeps the GIL during the
    call (cffi would release it) and raises a Python exception the call set. The library
    is the one already loaded."""
    import ctypes

    f = getattr(ctypes.PyDLL(str(_library_path())), PYTHON_ENCODER)
    f.restype = ctypes.c_int
    f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.py_object, ctypes.py_object, ctypes.py_object, ctypes.c_void_p]
    return f


Builtins = Tuple[
    Callable[[str], List[int]],
    Callable[[str], bytearray],
    Callable[[Tuple[List[str], int]], List[List[int]]],
    Callable[[Tuple[List[str], int]], List[bytearray]],
    Callable[[str], List[int]],
    Callable[[str], bytearray],
    Callable[[str], List[int]],
    Callable[[str], bytearray],
    Callable[[List[int]], bytes],
]


def _builtin_maker() -> Callable[[Any, type], Builtins | None] | None:
    """``make(tok, error_type)``: the builtins ``(encode_ordinary, encode_ordinary_u32,
    encode_ordinary_batch, encode_ordinary_batch_u32, encode, encode_u32)`` for the gc'd
    handle ``tok`` (which they keep alive): ``text -> list of ids``, ``text -> bytearray
    of native-endian uint32 ids``, ``(list of texts, num_threads) -> list of lists of
    ids``, ``(list of texts, num_threads) -> [bytearray of uint32 ids, bytearray of
    len(texts) + 1 uint64 offsets]``, and the first two again for tiktoken's ``encode``
    with its default arguments (``error_type`` for a text with a special token's text),
    and again with ``allowed_special="all"`` (the batch builtins take a third item, the
    policy's ``mode``), and ``decode_bytes(list of ints) -> bytes``; or None where they
    are unavailable."""
    if (
        os.environ.get("BPEKIT_PYTHON_BUILTIN", "1") == "0"
        or sys.implementation.name != "cpython"
        or not getattr(sys, "_is_gil_enabled", lambda: True)()  # free-threaded, GIL off
    ):
        return None
    try:
        import ctypes

        api = ffi.new(f"{PYTHON_API} *")
        api.size = ffi.sizeof(PYTHON_API)
        fields = dict(ffi.typeof(PYTHON_API).fields)
        for member, name in _API_FUNCTIONS.items():
            address = ctypes.cast(getattr(ctypes.pythonapi, name), ctypes.c_void_p).value
            setattr(api, member, ffi.cast(fields[member].type, address))
        maker = python_encoder_export()
    except Exception:  # noqa: BLE001 (whatever fails here, the cffi path serves)
        return None
    api_address = int(ffi.cast("uintptr_t", api))

    def make(tok: Any, error_type: type) -> Builtins | None:
        out: list[list[Any]] = []
        try:
            status = maker(api_address, int(ffi.cast("uintptr_t", tok)), tok, error_type, out, None)
        except Exception:  # noqa: BLE001 (a CPython call failed: no builtin, the cffi path)
            return None
        return tuple(out[0]) if status == 0 and out else None  # type: ignore[return-value]

    make.api = api  # type: ignore[attr-defined]  # read by every call
    return make


make_builtin = _builtin_maker()
