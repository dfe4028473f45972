"""The published reference data the tests check Relance against, kept in the repository
(tests/specs/, each file beside its licence; tests/specs/README.md names the sources)."""

from __future__ import annotations

from pathlib import Path

SPECS = Path(__file__).resolve().parents[1] / "specs"


def specs_dir() -> Path:
    return SPECS
