"""Checks that the committed header loads into cffi after the documented filter.

Usage: python ci/check_cffi_header.py [header]   (default: include/bpekit.h)
Fails if cffi rejects the filtered header, or if a function the header declares is
missing from what cffi parsed (the filter must never drop a declaration).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from build_ffi import filter_header, make_ffi  # noqa: E402


def main() -> int:
    header = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "include" / "bpekit.h"
    try:
        ffi = make_ffi(header)
    except Exception as e:  # cffi raises CDefError, ParseError, ...
        print(f"FAIL: cffi cannot parse the filtered {header}: {type(e).__name__}: {e}")
        return 1
    text = header.read_text(encoding="utf-8")
    declared = set(re.findall(r"\b(bpekit_[a-z0-9_]+)\s*\(", text))
    parsed = {name for kind, name in (k.split(" ", 1) for k in ffi._parser._declarations) if kind == "function"}
    missing = sorted(declared - parsed)
    if missing:
        print(f"FAIL: declared in {header} but not seen by cffi: {', '.join(missing)}")
        return 1
    defines = re.findall(r"^#define (BPEKIT_[A-Z0-9_]+) ", text, re.M)
    lost = [d for d in defines if d not in filter_header(text)]
    if lost:
        print(f"FAIL: integer #defines dropped by the filter: {', '.join(lost)}")
        return 1
    print(f"ok: cffi parsed {header.name}: {len(parsed)} functions, {len(defines)} constants")
    return 0


if __name__ == "__main__":
    sys.exit(main())
