# Typing stub for the cffi module generated at build time from include/bpekit.h
# (out-of-line ABI mode: `ffibuilder.set_source("bpekit._ffi", None)`).
from typing import Any

ffi: Any
