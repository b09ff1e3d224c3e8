#!/usr/bin/env bash
# Builds the library and the C programs (the examples and the C ABI tests, test_capi), then
# runs them three ways: plainly, under valgrind, and (the tests) built with ASan + UBSan.
#
# Usage: ci/run_c_tests.sh
#   CC selects the compiler (default cc; may include a launcher, e.g. "ccache cc").
#   Everything is built in tests/c/build/ (gitignored). Every step runs even if an
#   earlier one failed; the script lists the failed steps and exits 1 if there are any.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
read -r -a cc <<<"${CC:-cc}"
build=tests/c/build
libdir=$root/target/release
warn=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g)
link=(-Iinclude -L"$libdir" -lbpekit)
sanitize=('-fsanitize=address,undefined' -fno-sanitize-recover=all -fno-omit-frame-pointer)

failed=()
step() { # step NAME COMMAND...: runs COMMAND, records NAME if it fails
    local name=$1
    shift
    echo "==== $name"
    if "$@"; then
        echo "---- ok: $name"
    else
        echo "---- FAILED ($?): $name" >&2
        failed+=("$name")
    fi
}

# ---- Build ----
cargo build --release
bash ci/link_soname.sh "$libdir" # the programs look for the library by its SONAME
mkdir -p "$build"
examples=()
for src in bindings/c/examples/*.c; do
    name=$(basename "$src" .c)
    "${cc[@]}" "${warn[@]}" "$src" "${link[@]}" -o "$build/$name"
    examples+=("$build/$name")
done
# test_capi: the shared harness and one file per area (tests/c/harness.h); every
# tests/c/test_<area>.c is a suite, and must be listed in harness.c's suite table, or its
# tests would never run.
capi=(tests/c/harness.c)
for src in tests/c/test_*.c; do
    area=$(basename "$src" .c)
    area=${area#test_}
    if ! grep -q "{\"$area\", ${area}_tests}" tests/c/harness.c; then
        echo "run_c_tests: $src: suite ${area}_tests is not listed in tests/c/harness.c" >&2
        exit 1
    fi
    capi+=("$src")
done
"${cc[@]}" "${warn[@]}" -pthread "${capi[@]}" "${link[@]}" -o "$build/test_capi"
"${cc[@]}" "${warn[@]}" "${sanitize[@]}" -pthread "${capi[@]}" "${link[@]}" -o "$build/test_capi_asan"
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# ---- Plain ----
for prog in "${examples[@]}" "$build/test_capi"; do
    step "$(basename "$prog")" "$prog"
done

# ---- Valgrind ----
# Suppressions, all for "possibly lost" memory of thread pools that live until the process
# exits, as the header documents (batch functions run on pools started on first use):
# - the TLS block glibc allocates in pthread_create for each pool thread (when the thread
#   reuses a cached stack, the report points at whichever pthread_create made it);
# - crossbeam-epoch's per-thread records, which rayon's threads register;
# - the per-thread cache of merged pieces (bounded; see CACHE_MAX_TOKENS in core/src/encode/merge.rs) of pool threads.
# Real leaks of bpekit objects ("definitely lost") are not suppressed. Children of fork()
# are silent: what the parent's pool threads own looks lost there (the tests read the
# children's verdicts through pipes or their own checks).
if command -v valgrind >/dev/null; then
    vg=(valgrind -q --child-silent-after-fork=yes --leak-check=full --error-exitcode=1 --suppressions="$root/ci/valgrind.supp")
    for prog in "${examples[@]}" "$build/test_capi"; do
        step "valgrind $(basename "$prog")" "${vg[@]}" "$prog"
    done
else
    echo "run_c_tests: valgrind not found; install it (e.g. apt-get install valgrind)" >&2
    failed+=("valgrind (not installed)")
fi

# ---- ASan + UBSan ----
# The Rust library itself is not instrumented; ASan still checks every allocation it
# makes (it intercepts malloc/free) and LeakSanitizer checks for leaks at exit.
step "asan+ubsan test_capi" env ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$build/test_capi_asan"

# ---- Summary ----
if ((${#failed[@]})); then
    echo "run_c_tests: ${#failed[@]} step(s) failed:" >&2
    printf '    %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "run_c_tests: all C examples and tests passed (plain, valgrind, ASan+UBSan)"
