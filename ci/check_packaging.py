"""Checks what can be checked here of the packaging workflow (.github/workflows/release.yml),
which runs only on a public forge: it parses, it pins the cibuildwheel this check runs,
and that cibuildwheel, reading [tool.cibuildwheel] from pyproject.toml, selects every
platform the workflow promises (Linux x86_64/aarch64 manylinux and musllinux, macOS
x86_64/arm64, Windows AMD64). `npm pack --dry-run` and `go vet` run in test-node and
test-go, `auditwheel show` of the local wheel in test-python (ci/check_wheel.sh).

    python ci/check_packaging.py CIBUILDWHEEL
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def main(cibuildwheel: str) -> int:
    workflow = (ROOT / ".github/workflows/release.yml").read_text()
    jobs = yaml.safe_load(workflow)["jobs"]
    assert {"wheels", "sdist", "native", "node", "go", "publish"} <= set(jobs), sorted(jobs)
    pinned = re.search(r"pypa/cibuildwheel@v([\d.]+)", workflow).group(1)
    from importlib.metadata import version as installed

    assert installed("cibuildwheel") == pinned, f"the workflow pins cibuildwheel {pinned}, this check has {installed('cibuildwheel')}"
    want = {
        "linux": {"manylinux_x86_64", "manylinux_aarch64", "musllinux_x86_64", "musllinux_aarch64"},
        "macos": {"macosx_x86_64", "macosx_arm64"},
        "windows": {"win_amd64"},
    }
    for platform, tags in want.items():
        ids = subprocess.run([cibuildwheel, "--print-build-identifiers", "--platform", platform], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
        found = {i.split("-", 1)[1] for i in ids}
        assert found == tags, f"{platform}: cibuildwheel selects {sorted(found)}, the workflow promises {sorted(tags)}"
        print(f"check_packaging: {platform}: {' '.join(ids)}")
    # Each native target the npm package loads from (index.js: prebuilds/<platform>-<arch>).
    targets = set(re.findall(r"target: ([a-z0-9]+-[a-z0-9]+)", workflow))
    assert targets == {"linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64", "win32-x64"}, targets
    print(f"check_packaging: ok (cibuildwheel {pinned}; native targets {', '.join(sorted(targets))})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
