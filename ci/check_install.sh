#!/usr/bin/env bash
# Checks what C and C++ users get from `cmake --install`: builds the library, installs
# bindings/cpp into a temporary prefix, runs the C++ GoogleTest suite (ctest) against the
# installed package, then builds and runs two small consumers that see ONLY the installed
# tree: a CMake project (find_package(bpekit), shared and static targets) and a C program
# built with pkg-config (shared, and static through `pkg-config --static`).
#
# Usage: ci/check_install.sh [--prefix DIR] [--no-install]
#   --prefix DIR   install into DIR (kept) instead of a temporary directory (removed)
#   --no-install   check an existing install in DIR as it is (needs --prefix); skips the
#                  cargo and bindings/cpp builds, e.g. to check a packaged tree
#   CC / CXX select the compilers; BPEKIT_DATA (a directory with cl100k_base.tiktoken)
#   enables the cl100k_base test; valgrind, if installed, adds valgrind.test_bpekit.
# Stops at the first failing step and exits 1; prints "check_install: ok" at the end.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

prefix="" install=1
while (($#)); do
    case $1 in
    --prefix) prefix=$(realpath -m "$2"); shift 2 ;;
    --no-install) install=0; shift ;;
    *) echo "usage: ci/check_install.sh [--prefix DIR] [--no-install]" >&2; exit 2 ;;
    esac
done
if ((!install)) && [[ -z $prefix ]]; then
    echo "check_install: --no-install needs --prefix" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bpekit-check-install.XXXXXX")
prefix=${prefix:-$work/prefix}
jobs=$(nproc 2>/dev/null || echo 2)
# Only the installed tree may be found: no library path or pkg-config path from outside.
unset LD_LIBRARY_PATH PKG_CONFIG_PATH
export BPEKIT_DATA=${BPEKIT_DATA:-$(cd "$root/.." && pwd)/shared/data}

current=""
on_exit_failure() {
    local rc=$?
    if ((rc != 0)); then
        echo "check_install: FAILED (exit $rc) in step: ${current:-setup}" >&2
    fi
}
trap 'on_exit_failure; rm -rf "$work"' EXIT
step() { # step NAME: prints a banner and records the step for the failure message
    current=$1
    echo "==== $1"
}
abi=$(sed -n 's/^#define BPEKIT_ABI_VERSION \([0-9]*\).*/\1/p' include/bpekit.h)
soname=libbpekit.so.$abi
needs_libbpekit_so() { # needs_libbpekit_so EXE yes|no: checks EXE's NEEDED entries
    local dyn
    dyn=$(readelf -d "$1")
    if [[ $2 == yes && $dyn != *"(NEEDED)"*"[$soname]"* ]]; then
        echo "$1 does not record NEEDED $soname (the SONAME)" >&2
        return 1
    fi
    if [[ $2 == no && $dyn == *libbpekit* ]]; then
        echo "$1 should not need libbpekit.so" >&2
        return 1
    fi
}

# ---- Build and install ----
if ((install)); then
    step "cargo build --release --locked"
    cargo build --release --locked

    step "configure, build and install bindings/cpp into $prefix"
    cmake -S bindings/cpp -B "$work/build" -DCMAKE_BUILD_TYPE=Release
    cmake --build "$work/build" -j "$jobs"
    cmake --install "$work/build" --prefix "$prefix"
fi

# ---- The installed tree ----
step "installed files"
pc=$(find "$prefix" -path '*/pkgconfig/bpekit.pc' -print -quit)
[[ -n $pc ]] || { echo "no pkgconfig/bpekit.pc under $prefix" >&2; exit 1; }
libdir=$(dirname "$(dirname "$pc")")
[[ -L $libdir/libbpekit.so && $(readlink "$libdir/libbpekit.so") == "$soname" ]] ||
    { echo "$libdir/libbpekit.so is not a symlink to $soname" >&2; exit 1; }
echo "  ${libdir#"$prefix"/}/libbpekit.so -> $soname"
for f in "$prefix/include/bpekit.h" "$prefix/include/bpekit.hpp" "$libdir/$soname" "$libdir/libbpekit.a" \
    "$libdir/cmake/bpekit/bpekitConfig.cmake" "$libdir/cmake/bpekit/bpekitConfigVersion.cmake" "$pc"; do
    [[ -f $f ]] || { echo "missing: $f" >&2; exit 1; }
    echo "  ${f#"$prefix"/}"
done
if ((install)); then
    cmp "$prefix/include/bpekit.h" include/bpekit.h
    cmp "$prefix/include/bpekit.hpp" bindings/cpp/include/bpekit.hpp
fi
cargo_version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
export PKG_CONFIG_PATH=$libdir/pkgconfig
pc_version=$(pkg-config --modversion bpekit)
echo "  pkg-config bpekit $pc_version (Cargo.toml $cargo_version)"
[[ $pc_version == "$cargo_version" ]] || { echo "pkg-config version != Cargo.toml version" >&2; exit 1; }

# ---- C++ test suite against the installed package ----
step "C++ GoogleTest suite (ctest) against the installed package"
valgrind_opt=()
command -v valgrind >/dev/null && valgrind_opt=(-DBPEKIT_TESTS_VALGRIND=ON)
cmake -S tests/cpp -B "$work/tests" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DBPEKIT_TESTS_USE_INSTALLED=ON "${valgrind_opt[@]}"
cmake --build "$work/tests" -j "$jobs"
(cd "$work/tests" && ctest --output-on-failure -j "$jobs")

# ---- Consumer: CMake find_package ----
step "CMake consumer (find_package) against the installed package"
cmake -S tests/consumers/cmake -B "$work/consumer-cmake" -DCMAKE_PREFIX_PATH="$prefix"
cmake --build "$work/consumer-cmake" -j "$jobs"
"$work/consumer-cmake/consumer"
"$work/consumer-cmake/consumer_static"
# The shared build names the library, not a path; the static build does not need it.
needs_libbpekit_so "$work/consumer-cmake/consumer" yes
needs_libbpekit_so "$work/consumer-cmake/consumer_static" no

# ---- Consumer: pkg-config ----
read -r -a cc <<<"${CC:-cc}"
cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror)
mkdir -p "$work/consumer-pc"

step "pkg-config consumer, shared: cc \$(pkg-config --cflags --libs bpekit)"
# shellcheck disable=SC2046 # pkg-config output is a list of flags
"${cc[@]}" "${cflags[@]}" tests/consumers/pkgconfig/main.c $(pkg-config --cflags --libs bpekit) \
    -o "$work/consumer-pc/consumer"
out=$(LD_LIBRARY_PATH=$libdir "$work/consumer-pc/consumer")
echo "$out"
[[ $out == *"bpekit $cargo_version,"* ]] || { echo "consumer reports another version" >&2; exit 1; }
LD_LIBRARY_PATH=$libdir ldd "$work/consumer-pc/consumer" | grep -F "$libdir/libbpekit.so"

step "pkg-config consumer, static: pkg-config --static, libbpekit.a"
# `-lbpekit` would pick libbpekit.so, which sits next to the archive; `-l:libbpekit.a`
# names the archive, and --static adds Libs.private (the Rust runtime's system libraries).
static_libs=$(pkg-config --static --libs bpekit)
static_libs=${static_libs/-lbpekit/-l:libbpekit.a}
# shellcheck disable=SC2046,SC2086
"${cc[@]}" "${cflags[@]}" tests/consumers/pkgconfig/main.c $(pkg-config --cflags bpekit) $static_libs \
    -o "$work/consumer-pc/consumer_static"
"$work/consumer-pc/consumer_static"
needs_libbpekit_so "$work/consumer-pc/consumer_static" no

# ---- Consumer: Go, through pkg-config (bindings/go/README.md's recipe) ----
if command -v go >/dev/null; then
    step "Go consumer: CGO_CFLAGS/CGO_LDFLAGS from pkg-config, the examples of bindings/go"
    # shellcheck disable=SC2046
    (cd bindings/go && CGO_CFLAGS="$(pkg-config --cflags bpekit)" \
        CGO_LDFLAGS="$(pkg-config --libs bpekit) -Wl,-rpath,$libdir" go test -count=1 -run '^Example' ./...)
    step "Go consumer, static: -tags bpekit_static, CGO_LDFLAGS names libbpekit.a"
    (cd bindings/go && CGO_CFLAGS="$(pkg-config --cflags bpekit)" \
        CGO_LDFLAGS="$libdir/libbpekit.a $(pkg-config --static --libs-only-l bpekit | sed 's/-lbpekit//')" \
        go test -tags bpekit_static -count=1 -o "$work/go-static.test" -c . && "$work/go-static.test" -test.run '^Example')
    needs_libbpekit_so "$work/go-static.test" no
fi

current=""
echo "check_install: ok"
