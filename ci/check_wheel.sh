#!/usr/bin/env bash
# Checks a built wheel: tagged py3-none-<platform> (one wheel for every Python), carries
# the native library and the generated cffi module, and auditwheel can read it.
set -euo pipefail
whl=${1:?usage: check_wheel.sh path/to/bpekit-*.whl}
name=$(basename "$whl")
if [[ ! $name =~ ^bpekit-[0-9.]+-py3-none-[a-z0-9_]+\.whl$ ]] || [[ $name == *-any.whl ]]; then
  echo "FAIL: $name is not tagged py3-none-<platform>" >&2
  exit 1
fi
contents=$("${PYTHON:-python3}" -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$whl")
for f in bpekit/_native/libbpekit bpekit/_ffi.py bpekit/py.typed bpekit/__init__.py; do
  grep -q "$f" <<<"$contents" || { echo "FAIL: $name lacks $f" >&2; exit 1; }
done
if "${PYTHON:-python3}" -m auditwheel --version >/dev/null 2>&1; then
  "${PYTHON:-python3}" -m auditwheel show "$whl"
else
  echo "note: auditwheel not installed; skipped 'auditwheel show'"
fi
echo "ok: $name"
