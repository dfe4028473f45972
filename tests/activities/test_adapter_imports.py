"""Workflows import the email activities (passed through their sandbox) and clients
import the workflows: the services behind the activities, with Jinja, css-inline and
prometheus_client, load only when an activity runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("jinja2", "css_inline", "inscriptis", "prometheus_client", "weasyprint")


def test_importing_the_workflows_loads_no_rendering_or_metrics() -> None:
    code = (
        "import sys, workflows.email_steps, workflows.invoice, activities.emails\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
