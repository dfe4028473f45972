"""The patch register (workflows/patches.py) and the code agree: every id a workflow
checks is registered at the stage its call says, every entry is still used, and the
histories that pin an entry's old branch are there to replay it."""

from __future__ import annotations

import ast
import base64
import json
from datetime import date
from pathlib import Path
from typing import Literal

import pytest

from workflows.patches import PATCHES, Patch

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = ROOT / "tests" / "histories"
CALLS = {"patched": "patched", "deprecate_patch": "deprecated"}


def patch_calls(source: str, where: str) -> dict[str, str]:
    """{patch id: stage} for every `workflow.patched(...)` and `workflow.deprecate_patch(...)`
    in a module; the id a string literal or a module-level string constant."""
    tree = ast.parse(source)
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in CALLS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "workflow"
        ):
            continue
        arg = node.args[0] if node.args else None
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            found[arg.value] = CALLS[node.func.attr]
        elif isinstance(arg, ast.Name) and arg.id in constants:
            found[constants[arg.id]] = CALLS[node.func.attr]
        else:
            raise AssertionError(f"{where}:{node.lineno}: a patch id must be a string literal or a module constant")
    return found


def used_patches() -> dict[str, str]:
    used: dict[str, str] = {}
    for path in sorted((ROOT / "workflows").rglob("*.py")):
        used |= patch_calls(path.read_text(), str(path.relative_to(ROOT)))
    return used


def patch_markers(history: Path) -> set[str]:
    """The patch ids a recorded history carries markers of (Core writes each id as JSON
    under "patch-data")."""
    ids = set()
    for ev in json.loads(history.read_text())["events"]:
        marker = ev.get("markerRecordedEventAttributes")
        if marker and marker.get("markerName") == "core_patch":
            payload = marker["details"]["patch-data"]["payloads"][0]["data"]
            ids.add(json.loads(base64.b64decode(payload))["id"])
    return ids


def check(register: tuple[Patch, ...], used: dict[str, str], histories: dict[str, set[str]]) -> list[str]:
    """`histories`: {file name in tests/histories/: the patch ids it carries markers of}.
    A patched entry names the histories recorded before it, which replay its old branch,
    and the scenarios they descend from carry its marker; a deprecated entry (its old
    branch gone, and the histories of it) names histories recorded under it."""
    problems = []
    ids = [p.id for p in register]
    problems += [f"{i}: registered twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
    registered = {p.id: p for p in register}
    for patch_id, stage in sorted(used.items()):
        if patch_id not in registered:
            problems.append(f"{patch_id}: used in workflows/ but not in workflows/patches.py")
        elif registered[patch_id].stage != stage:
            problems.append(f"{patch_id}: the code calls it as {stage}, the register says {registered[patch_id].stage}")
    for patch in register:
        if patch.id not in used:
            problems.append(f"{patch.id}: registered but no workflow checks it (remove its entry and histories)")
        if not patch.why.strip():
            problems.append(f"{patch.id}: no reason given")
        if not patch.histories:
            problems.append(f"{patch.id}: no history pins it")
        for name in patch.histories:
            before = "-before_" in name
            current = f"{name.removesuffix('.json').split('-before_')[0]}.json"
            if not name.endswith(".json") or before != (patch.stage == "patched"):
                shape = "<scenario>-before_<change>.json" if patch.stage == "patched" else "<scenario>.json"
                problems.append(f"{patch.id}: {name} is not named {shape}")
            elif name not in histories:
                problems.append(f"{patch.id}: {name} is not in tests/histories/")
            elif current not in histories:
                problems.append(f"{patch.id}: {name} descends from no current scenario")
            elif patch.id not in histories[current]:
                problems.append(f"{patch.id}: {current} was not recorded under the patch (no marker)")
    return problems


def test_the_register_matches_the_workflows_and_the_histories() -> None:
    histories = {p.name: patch_markers(p) for p in HISTORIES.glob("*.json")}
    assert check(PATCHES, used_patches(), histories) == []


def test_every_kept_history_belongs_to_a_registered_patch() -> None:
    pinned = {name for patch in PATCHES for name in patch.histories}
    kept = {p.name for p in HISTORIES.glob("*-before_*.json")}
    assert kept <= pinned, f"histories no patch pins: {sorted(kept - pinned)}"


# The checks themselves, on made-up registers: each catches what it is there for.

SOURCE = """
from temporalio import workflow
NEW_PATH = "new-path"
async def run():
    if workflow.patched(NEW_PATH):
        pass
    workflow.deprecate_patch("old-path")
"""


def entry(
    patch_id: str,
    *,
    stage: Literal["patched", "deprecated"] = "patched",
    why: str = "a reason",
    histories: tuple[str, ...] = ("X-run-before_change.json",),
) -> Patch:
    return Patch(id=patch_id, date=date(2027, 1, 1), why=why, histories=histories, stage=stage)


def test_patch_calls_are_found_by_literal_and_by_constant() -> None:
    assert patch_calls(SOURCE, "m.py") == {"new-path": "patched", "old-path": "deprecated"}
    with pytest.raises(AssertionError, match="string literal or a module constant"):
        patch_calls("from temporalio import workflow\nworkflow.patched(ids['x'])\n", "m.py")


HISTORIES_OF = {
    "X-run.json": {"new-path", "old-path"},
    "X-run-before_change.json": set(),
    "X-orphan-before_change.json": set(),
    "Y-run.json": set(),
    "Y-run-before_change.json": set(),
}


@pytest.mark.parametrize(
    ("register", "problem"),
    [
        ((), "new-path: used in workflows/ but not in workflows/patches.py"),
        ((entry("new-path", stage="deprecated"),), "new-path: the code calls it as patched, the register says"),
        ((entry("new-path"), entry("gone")), "gone: registered but no workflow checks it"),
        ((entry("new-path", histories=()),), "new-path: no history pins it"),
        ((entry("new-path", histories=("X-missing-before_change.json",)),), "is not in tests/histories/"),
        ((entry("new-path", histories=("X-orphan-before_change.json",)),), "descends from no current scenario"),
        ((entry("new-path", histories=("Y-run-before_change.json",)),), "Y-run.json was not recorded under"),
        ((entry("new-path", histories=("X-run.json",)),), "X-run.json is not named <scenario>-before_"),
        ((entry("new-path", why=" "),), "new-path: no reason given"),
        ((entry("new-path"), entry("new-path")), "new-path: registered twice"),
    ],
)
def test_each_check_catches_its_case(register: tuple[Patch, ...], problem: str) -> None:
    problems = check(register, {"new-path": "patched"}, HISTORIES_OF)
    assert any(problem in p for p in problems), problems


def test_a_consistent_register_passes() -> None:
    register = (entry("new-path"), entry("old-path", stage="deprecated", histories=("X-run.json",)))
    assert check(register, {"new-path": "patched", "old-path": "deprecated"}, HISTORIES_OF) == []
    stale = (entry("new-path"), entry("old-path", stage="deprecated"))
    assert check(stale, {"new-path": "patched", "old-path": "deprecated"}, HISTORIES_OF) == [
        "old-path: X-run-before_change.json is not named <scenario>.json"
    ]
