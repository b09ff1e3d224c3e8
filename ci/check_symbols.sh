#!/usr/bin/env bash
# Checks the dynamic symbols of the bpekit shared library against the C headers,
# include/bpekit.h (the ABI) and include/bpekit_host.h (host-only calls, outside the ABI
# promise):
#   1. every defined dynamic symbol is named bpekit_* (no Rust or dependency symbols leak);
#   2. every function declared in a header is exported;
#   3. every exported bpekit_* symbol is declared in exactly one of the two headers;
#   4. (ELF) the SONAME is libbpekit.so.<BPEKIT_ABI_VERSION of bpekit.h>.
#
# Usage: ci/check_symbols.sh [LIBRARY [HEADER [HOST_HEADER]]]
#   LIBRARY defaults to target/release/libbpekit.so, the headers to include/bpekit.h and
#   include/bpekit_host.h (all relative to the repository root). Exits 1 and lists the
#   offenders on failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
lib=${1:-$root/target/release/libbpekit.so}
header=${2:-$root/include/bpekit.h}
host_header=${3:-$root/include/bpekit_host.h}

for f in "$lib" "$header" "$host_header"; do
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

# ---- Functions declared in the headers ----
# Comments are removed first, so names mentioned in documentation do not count; what is
# left is declarations, and a function declaration is an identifier followed by "(".
# Global variables (cbindgen writes `extern const T name;`) count as declared too.
declared() { # declared HEADER: its bpekit_* functions and globals, one a line, sorted
    awk -f "$(dirname "$0")/strip_c_comments.awk" "$1" >"$tmp/code"
    {
        grep -v '^[[:space:]]*#' "$tmp/code" | grep -o 'bpekit_[A-Za-z0-9_]*[[:space:]]*(' |
            sed 's/[[:space:]]*($//' || true
        grep '^[[:space:]]*extern[[:space:]]' "$tmp/code" |
            grep -o 'bpekit_[A-Za-z0-9_]*[][[:space:]0-9]*;' | sed 's/[][[:space:]0-9]*;$//' || true
    } | LC_ALL=C sort -u
}
declared "$header" >"$tmp/declared.main"
declared "$host_header" >"$tmp/declared.host"
for f in "$tmp/declared.main" "$tmp/declared.host"; do
    if [ ! -s "$f" ]; then
        echo "check_symbols: $([ "$f" = "$tmp/declared.main" ] && echo "$header" || echo "$host_header")" \
            "declares no bpekit_* functions" >&2
        exit 1
    fi
done
LC_ALL=C sort -u "$tmp/declared.main" "$tmp/declared.host" >"$tmp/declared"

# ---- Compare ----
status=0
grep -v '^bpekit_' "$tmp/exported" >"$tmp/foreign" || true
LC_ALL=C comm -23 "$tmp/declared" "$tmp/exported" >"$tmp/missing"
grep '^bpekit_' "$tmp/exported" | LC_ALL=C comm -13 "$tmp/declared" - >"$tmp/undeclared" || true
LC_ALL=C comm -12 "$tmp/declared.main" "$tmp/declared.host" >"$tmp/twice"

report() { # report FILE MESSAGE
    if [ -s "$1" ]; then
        echo "check_symbols: $2:" >&2
        sed 's/^/    /' "$1" >&2
        status=1
    fi
}
report "$tmp/foreign" "$lib exports symbols not named bpekit_*"
report "$tmp/missing" "functions declared in the headers but not exported by $lib"
report "$tmp/undeclared" "symbols exported by $lib but declared in neither $header nor $host_header"
report "$tmp/twice" "functions declared in both $header and $host_header"

# ---- SONAME ----
abi=$(sed -n 's/^#define BPEKIT_ABI_VERSION \([0-9]*\).*/\1/p' "$header")
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ -z "$abi" ] || [ "$soname" != "libbpekit.so.$abi" ]; then
    echo "check_symbols: $lib has SONAME '${soname}', expected libbpekit.so.${abi:-?} (core/build.rs)" >&2
    status=1
fi

if [ "$status" -eq 0 ]; then
    echo "check_symbols: ok: $lib exports exactly the" \
        "$(wc -l <"$tmp/declared.main") functions of $(basename "$header") and the" \
        "$(wc -l <"$tmp/declared.host") of $(basename "$host_header"), SONAME $soname"
fi
exit "$status"
