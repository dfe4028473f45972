"""The register of workflow patches: every id a workflow passes to `workflow.patched` or
`workflow.deprecate_patch`, and why it is there (policy: docs/operations.md, "Upgrade
safely").

A patch lives through three releases: `patched("id")` gates the new code while runs
started on the old code may still be open (`stage="patched"`); once none can be,
`deprecate_patch("id")` replaces the branch and keeps only the new code
(`stage="deprecated"`), so runs started under the patch still replay; once those are
closed too, the call and its entry go. `histories` are files of tests/histories/: while
patched, those recorded before the change (`<scenario>-before_<change>.json`), which
replay the old branch; once deprecated, the current ones, which carry the patch's marker.

tests/workflows/test_patches.py checks the register against the code and the histories.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal


@dataclass(frozen=True)
class Patch:
    id: str
    date: date  # the release that brought it
    why: str
    histories: tuple[str, ...]  # file names in tests/histories/ (see above)
    stage: Literal["patched", "deprecated"] = "patched"


# Empty: no release has run other workflow code than today's, whose histories
# (tests/histories/) are the baseline.
PATCHES: tuple[Patch, ...] = ()
