"""Checks that the committed headers load into cffi after the documented filter.

Usage: python ci/check_cffi_header.py [header host_header]
       (default: include/bpekit.h include/bpekit_host.h, declared in that order, as the
       Python package declares them)
Fails if cffi rejects a filtered header, alone (bpekit.h) or after the one it includes
(bpekit_host.h), or if a function or integer constant a header declares is missing from
what cffi parsed (the filter must never drop a declaration).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from build_ffi import filter_header, header_paths, make_ffi  # noqa: E402


def main() -> int:
    headers = [Path(p) for p in sys.argv[1:3]] if len(sys.argv) > 2 else header_paths(ROOT / "include")
    for n in range(1, len(headers) + 1):
        try:
            ffi = make_ffi(headers[:n])
        except Exception as e:  # cffi raises CDefError, ParseError, ...
            print(f"FAIL: cffi cannot parse the filtered {headers[n - 1]}: {type(e).__name__}: {e}")
            return 1
    parsed = {name for kind, name in (k.split(" ", 1) for k in ffi._parser._declarations) if kind == "function"}
    counts = []
    for header in headers:
        text = header.read_text(encoding="utf-8")
        declared = set(re.findall(r"\b(bpekit_[a-z0-9_]+)\s*\(", text))
        missing = sorted(declared - parsed)
        if missing:
            print(f"FAIL: declared in {header} but not seen by cffi: {', '.join(missing)}")
            return 1
        defines = re.findall(r"^#define (BPEKIT_[A-Z0-9_]+) ", text, re.M)
        lost = [d for d in defines if d not in filter_header(text)]
        if lost:
            print(f"FAIL: integer #defines dropped by the filter from {header}: {', '.join(lost)}")
            return 1
        counts.append(f"{header.name}: {len(declared)} functions, {len(defines)} constants")
    print(f"ok: cffi parsed {'; '.join(counts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
