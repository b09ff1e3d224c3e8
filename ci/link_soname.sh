#!/usr/bin/env bash
# Puts a symlink named by the library's SONAME (libbpekit.so.<ABI>) next to cargo's
# libbpekit.so in DIR: programs linked against it record that name and look for it at run
# time. Nothing to do where the library has no SONAME (macOS) or readelf is missing.
#
# Usage: ci/link_soname.sh [DIR]   (default: target/release of the repository)
set -euo pipefail
dir=${1:-$(cd "$(dirname "$0")/.." && pwd)/target/release}
lib=$dir/libbpekit.so
[ -f "$lib" ] && command -v readelf >/dev/null || exit 0
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ -z "$soname" ] || ln -sfn libbpekit.so "$dir/$soname"
