"""Build hook: compiles the Rust library with cargo and packages it for cffi ABI mode.

Why a small hook of our own rather than maturin's ``bindings = "cffi"``: maturin
regenerates the header with its own embedded cbindgen and writes its own loader, so the
wheel would not be built from the committed, CI-checked headers (``include/bpekit.h``
and ``include/bpekit_host.h``). Here the wheel contains exactly those headers'
declarations (through ``python/build_ffi.py``),
the cdylib cargo built, and our own loader. Because nothing links against libpython,
the wheel is tagged ``py3-none-<platform>``: one wheel per platform for every Python.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.dist import Distribution
from setuptools.command.build_py import build_py as _build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel as _bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel as _bdist_wheel

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "python"))
import build_ffi  # noqa: E402

LIB_NAMES = {"linux": "libbpekit.so", "darwin": "libbpekit.dylib", "win32": "bpekit.dll"}


def native_library_name() -> str:
    for prefix, name in LIB_NAMES.items():
        if sys.platform.startswith(prefix):
            return name
    return "libbpekit.so"


def build_native(package_dir: Path) -> None:
    """cargo build --release, then copy the cdylib and the generated cffi module."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    cmd = ["cargo", "build", "--release", "--locked", "-p", "bpekit", "--lib"]
    print("bpekit: running", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)
    lib = target / "release" / native_library_name()
    native = package_dir / "_native"
    native.mkdir(parents=True, exist_ok=True)
    shutil.copy2(lib, native / lib.name)
    build_ffi.emit_ffi_module(build_ffi.header_paths(ROOT / "include"), package_dir / "_ffi.py")


class build_py(_build_py):
    def run(self) -> None:
        super().run()
        build_native(Path(self.build_lib) / "bpekit")


class BinaryDistribution(Distribution):
    """Carries a native library: install to platlib and build a platform wheel."""

    def has_ext_modules(self) -> bool:
        return True


class bdist_wheel(_bdist_wheel):
    def get_tag(self) -> tuple[str, str, str]:
        _, _, plat = super().get_tag()
        return "py3", "none", plat


setup(distclass=BinaryDistribution, cmdclass={"build_py": build_py, "bdist_wheel": bdist_wheel})
