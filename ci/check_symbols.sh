#!/usr/bin/env bash
# Checks the dynamic symbols of the bpekit shared library against the C header:
#   1. every defined dynamic symbol is named bpekit_* (no Rust or dependency symbols leak);
#   2. every function declared in the header is exported;
#   3. every exported bpekit_* symbol is declared in the header;
#   4. (ELF) the SONAME is libbpekit.so.<BPEKIT_ABI_VERSION of the header>.
#
# Usage: ci/check_symbols.sh [LIBRARY [HEADER]]
#   LIBRARY defaults to target/release/libbpekit.so, HEADER to include/bpekit.h (both
#   relative to the repository root). Exits 1 and lists the offenders on failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
lib=${1:-$root/target/release/libbpekit.so}
header=${2:-$root/include/bpekit.h}

for f in "$lib" "$header"; do
    if [ ! -f "$f" ]; then
        echo "check_symbols: $f: no such file" >&2
        exit 1
    fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- Exported symbols ----
# `nm -D --defined-only` prints "ADDRESS TYPE NAME". Absolute (A) entries are symbol
# version nodes, not symbols; a versioned name "f@@V" is reported as "f".
nm -D --defined-only "$lib" >"$tmp/nm"
awk '$(NF-1) != "A" { sub(/@.*/, "", $NF); print $NF }' "$tmp/nm" |
    LC_ALL=C sort -u >"$tmp/exported"
if [ ! -s "$tmp/exported" ]; then
    echo "check_symbols: $lib exports no symbols" >&2
    exit 1
fi

# ---- Functions declared in the header ----
# Comments are removed first, so names mentioned in documentation do not count; what is
# left is declarations, and a function declaration is an identifier followed by "(".
# Global variables (cbindgen writes `extern const T name;`) count as declared too.
awk -f "$(dirname "$0")/strip_c_comments.awk" "$header" >"$tmp/code"
{
    grep -v '^[[:space:]]*#' "$tmp/code" | grep -o 'bpekit_[A-Za-z0-9_]*[[:space:]]*(' |
        sed 's/[[:space:]]*($//' || true
    grep '^[[:space:]]*extern[[:space:]]' "$tmp/code" |
        grep -o 'bpekit_[A-Za-z0-9_]*[][[:space:]0-9]*;' | sed 's/[][[:space:]0-9]*;$//' || true
} | LC_ALL=C sort -u >"$tmp/declared"
if [ ! -s "$tmp/declared" ]; then
    echo "check_symbols: $header declares no bpekit_* functions" >&2
    exit 1
fi

# ---- Compare ----
status=0
grep -v '^bpekit_' "$tmp/exported" >"$tmp/foreign" || true
LC_ALL=C comm -23 "$tmp/declared" "$tmp/exported" >"$tmp/missing"
grep '^bpekit_' "$tmp/exported" | LC_ALL=C comm -13 "$tmp/declared" - >"$tmp/undeclared" || true

report() { # report FILE MESSAGE
    if [ -s "$1" ]; then
        echo "check_symbols: $2:" >&2
        sed 's/^/    /' "$1" >&2
        status=1
    fi
}
report "$tmp/foreign" "$lib exports symbols not named bpekit_*"
report "$tmp/missing" "functions declared in $header but not exported by $lib"
report "$tmp/undeclared" "symbols exported by $lib but not declared in $header"

# ---- SONAME ----
abi=$(sed -n 's/^#define BPEKIT_ABI_VERSION \([0-9]*\).*/\1/p' "$header")
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ -z "$abi" ] || [ "$soname" != "libbpekit.so.$abi" ]; then
    echo "check_symbols: $lib has SONAME '${soname}', expected libbpekit.so.${abi:-?} (core/build.rs)" >&2
    status=1
fi

if [ "$status" -eq 0 ]; then
    echo "check_symbols: ok: $lib exports exactly the" \
        "$(wc -l <"$tmp/declared") functions of $header, SONAME $soname"
fi
exit "$status"
