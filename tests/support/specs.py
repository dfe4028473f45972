"""Where ../shared/specs is: beside the checkout (/work/main -> /work/shared) or further
up for a git worktree (/work/wt/<name> -> /work/shared)."""

from __future__ import annotations

from pathlib import Path


def specs_dir() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "specs"
        if candidate.is_dir():
            return candidate
    return here.parents[3] / "shared" / "specs"  # the historical layout, for the error message


SPECS = specs_dir()
