#!/usr/bin/env bash
# Checks the committed C headers, include/bpekit.h (the ABI: core/src/capi but
# capi/host) and include/bpekit_host.h (core/src/capi/host alone, outside the ABI promise):
#   1. each is exactly what the pinned cbindgen generates from core/src/capi today;
#   2. every backticked bpekit_* / BPEKIT_* name in them (their documentation) is
#      declared in one of them, so the docs never name a function, type or macro that
#      does not exist.
#
# Usage: ci/check_header.sh [HEADER HOST_HEADER]
#   The headers default to include/bpekit.h and include/bpekit_host.h (relative to the
#   repository root); pass other paths to test the checks themselves. Set CBINDGEN to use
#   a cbindgen other than the one on PATH. Exits 1 on any difference or dangling name.
set -euo pipefail

CBINDGEN_VERSION=0.29.2
root=$(cd "$(dirname "$0")/.." && pwd)
header=${1:-$root/include/bpekit.h}
host_header=${2:-$root/include/bpekit_host.h}
cbindgen=${CBINDGEN:-cbindgen}

for f in "$header" "$host_header"; do
    if [ ! -f "$f" ]; then
        echo "check_header: $f: no such file" >&2
        exit 1
    fi
done

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

# ---- 1. The headers are up to date ----
# regen NAME COMMITTED CBINDGEN-ARGS...: regenerates into $tmp/NAME and diffs.
regen() {
    local name=$1 committed=$2
    shift 2
    if ! (cd "$root/core" && "$cbindgen" "$@" --output "$tmp/$name") 2>"$tmp/cbindgen.log"; then
        cat "$tmp/cbindgen.log" >&2
        echo "check_header: cbindgen failed for $name" >&2
        exit 1
    fi
    if ! diff -u --label "$committed (committed)" --label "$committed (regenerated)" \
        "$committed" "$tmp/$name" >"$tmp/diff"; then
        cat "$tmp/diff" >&2
        echo "check_header: $committed differs from cbindgen's output (above); regenerate" \
            "it with \`make header\` or: cd core && cbindgen $* --output ../include/$name" >&2
        status=1
    fi
}
regen bpekit.h "$header" --config cbindgen.toml --crate bpekit
regen bpekit_host.h "$host_header" --quiet --config cbindgen_host.toml src/capi/host/mod.rs

# ---- 2. Every backticked name is declared ----
# Declared names come from the headers with comments removed: functions (an identifier
# followed by "("), typedef names, struct tags, macros, and extern variables. bpekit.h's
# documentation may name only its own declarations (it knows nothing of the host
# header); bpekit_host.h's may name both headers' (it includes bpekit.h).
declared() { # declared HEADER...: the bpekit names the headers declare, one a line
    awk -f "$(dirname "$0")/strip_c_comments.awk" "$@" >"$tmp/code"
    local id='[A-Za-z_][A-Za-z0-9_]*'
    {
        grep -v '^[[:space:]]*#' "$tmp/code" | grep -o "${id}[[:space:]]*(" |
            sed 's/[[:space:]]*($//' || true
        grep -o "struct[[:space:]][[:space:]]*${id}" "$tmp/code" | awk '{ print $2 }' || true
        grep -o "${id}[][[:space:]0-9]*;" "$tmp/code" | sed 's/[][[:space:]0-9]*;$//' || true
        sed -n "s/^[[:space:]]*#[[:space:]]*define[[:space:]][[:space:]]*\(${id}\).*/\1/p" "$tmp/code"
    } | grep -i '^bpekit_' | LC_ALL=C sort -u
}
declared "$header" >"$tmp/declared.main"
declared "$header" "$host_header" >"$tmp/declared.host"

# A backticked reference is "`" followed by a name; `f(x)` and `BPEKIT_ERR_*` are fine.
# A name ending in "_" before a "*" is a family: it must prefix at least one declared name.
refs=0
check_refs() { # check_refs HEADER DECLARED
    grep -n -o "\`bpekit_[A-Za-z0-9_]*\*\{0,1\}\|\`BPEKIT_[A-Za-z0-9_]*\*\{0,1\}" "$1" |
        sed 's/`//' >"$tmp/refs" || true
    refs=$((refs + $(wc -l <"$tmp/refs")))
    while IFS=: read -r lineno ref; do
        case $ref in
        *\*)
            prefix=${ref%\*}
            grep -q "^$prefix" "$2" && continue
            ;;
        *)
            grep -qx "$ref" "$2" && continue
            ;;
        esac
        where=$(basename "$1")
        [ "$2" = "$tmp/declared.host" ] && where="$where or bpekit.h"
        echo "check_header: $1:$lineno: \`$ref\` is not declared in $where" >&2
        status=1
    done <"$tmp/refs"
}
check_refs "$header" "$tmp/declared.main"
check_refs "$host_header" "$tmp/declared.host"

if [ "$status" -eq 0 ]; then
    echo "check_header: ok: $(basename "$header") and $(basename "$host_header") match" \
        "cbindgen $CBINDGEN_VERSION; their $refs backticked bpekit names are declared"
fi
exit "$status"
