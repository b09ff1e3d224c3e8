#!/usr/bin/env bash
# Checks the committed C header:
#   1. it is exactly what the pinned cbindgen generates from core/src/capi today;
#   2. every backticked bpekit_* / BPEKIT_* name in it (its documentation) is declared in
#      it, so the docs never name a function, type or macro that does not exist.
#
# Usage: ci/check_header.sh [HEADER]
#   HEADER defaults to include/bpekit.h (relative to the repository root); pass another
#   path to test the checks themselves. Set CBINDGEN to use a cbindgen other than the one
#   on PATH. Exits 1 on any difference or dangling name.
set -euo pipefail

CBINDGEN_VERSION=0.29.2
root=$(cd "$(dirname "$0")/.." && pwd)
header=${1:-$root/include/bpekit.h}
cbindgen=${CBINDGEN:-cbindgen}

if [ ! -f "$header" ]; then
    echo "check_header: $header: no such file" >&2
    exit 1
fi

# ---- Pinned cbindgen ----
# Output changes between cbindgen releases, so only the pinned version may write the header.
have=$("$cbindgen" --version 2>/dev/null || true)
if [ "$have" != "cbindgen $CBINDGEN_VERSION" ]; then
    echo "check_header: need cbindgen $CBINDGEN_VERSION, found: ${have:-none}" >&2
    echo "check_header: install it with:" \
        "cargo install cbindgen --version $CBINDGEN_VERSION --locked" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

# ---- 1. The header is up to date ----
regen=(--config cbindgen.toml --crate bpekit --output)
if ! (cd "$root/core" && "$cbindgen" "${regen[@]}" "$tmp/bpekit.h") 2>"$tmp/cbindgen.log"; then
    cat "$tmp/cbindgen.log" >&2
    echo "check_header: cbindgen failed" >&2
    exit 1
fi
if ! diff -u --label "$header (committed)" --label "$header (regenerated)" \
    "$header" "$tmp/bpekit.h" >"$tmp/diff"; then
    cat "$tmp/diff" >&2
    echo "check_header: $header differs from cbindgen's output (above); regenerate it with" \
        "\`make header\` or: cd core && cbindgen ${regen[*]} ../include/bpekit.h" >&2
    status=1
fi

# ---- 2. Every backticked name is declared ----
# Declared names come from the header with comments removed: functions (an identifier
# followed by "("), typedef names, struct tags, macros, and extern variables.
awk -f "$(dirname "$0")/strip_c_comments.awk" "$header" >"$tmp/code"
id='[A-Za-z_][A-Za-z0-9_]*'
{
    grep -v '^[[:space:]]*#' "$tmp/code" | grep -o "${id}[[:space:]]*(" |
        sed 's/[[:space:]]*($//' || true
    grep -o "struct[[:space:]][[:space:]]*${id}" "$tmp/code" | awk '{ print $2 }' || true
    grep -o "${id}[][[:space:]0-9]*;" "$tmp/code" | sed 's/[][[:space:]0-9]*;$//' || true
    sed -n "s/^[[:space:]]*#[[:space:]]*define[[:space:]][[:space:]]*\(${id}\).*/\1/p" "$tmp/code"
} | grep -i '^bpekit_' | LC_ALL=C sort -u >"$tmp/declared"

# A backticked reference is "`" followed by a name; `f(x)` and `BPEKIT_ERR_*` are fine.
# A name ending in "_" before a "*" is a family: it must prefix at least one declared name.
grep -n -o "\`bpekit_[A-Za-z0-9_]*\*\{0,1\}\|\`BPEKIT_[A-Za-z0-9_]*\*\{0,1\}" "$header" \
    | sed 's/`//' >"$tmp/refs" || true
while IFS=: read -r lineno ref; do
    case $ref in
    *\*)
        prefix=${ref%\*}
        grep -q "^$prefix" "$tmp/declared" && continue
        ;;
    *)
        grep -qx "$ref" "$tmp/declared" && continue
        ;;
    esac
    echo "check_header: $header:$lineno: \`$ref\` is not declared in the header" >&2
    status=1
done <"$tmp/refs"

if [ "$status" -eq 0 ]; then
    echo "check_header: ok: $header matches cbindgen $CBINDGEN_VERSION;" \
        "its $(wc -l <"$tmp/refs") backticked bpekit names are declared"
fi
exit "$status"
