"""The alert rules (deploy/prometheus/relance-alerts.yml) against real Prometheus: promtool
checks them and runs their unit tests (tests/prometheus/relance-alerts-test.yml), and
every relance_* series they name must be one Relance's registry exposes, so a renamed
metric or reason breaks this test instead of silencing an alert.

promtool comes from Debian's prometheus package (`make system-deps`, which CI runs):
without it these tests fail, they do not skip."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from relance.platform import metrics

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "relance-alerts.yml"
RULE_TESTS = ROOT / "tests" / "prometheus" / "relance-alerts-test.yml"
OPERATIONS = ROOT / "docs" / "operations.md"

# The sample names each exposed type produces (prometheus_client's text format).
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "unknown": ("",),
}
SELECTOR = re.compile(r"\b(relance_[a-z0-9_]+)\b(?:\s*\{([^}]*)\})?")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')


def promtool(*args: str) -> str:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.fail(
            "promtool not found: run `make system-deps` (it installs Debian's prometheus package, "
            "which provides promtool; CI does)"
        )
    done = subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"promtool {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_promtool_accepts_the_rules() -> None:
    out = promtool("check", "rules", str(RULES.relative_to(ROOT)))
    assert f"SUCCESS: {len(rules())} rules found" in out, out


def test_each_alert_fires_when_it_should_and_stays_quiet_otherwise() -> None:
    promtool("test", "rules", str(RULE_TESTS.relative_to(ROOT)))


def test_the_unit_tests_see_every_alert_fire_and_stay_quiet() -> None:
    alerts = {rule["alert"] for rule in rules()}
    fired: set[str] = set()
    quiet: set[str] = set()
    for group in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in group["alert_rule_test"]:
            (fired if case["exp_alerts"] else quiet).add(case["alertname"])
    assert fired == alerts, sorted(alerts ^ fired)
    assert quiet == alerts, sorted(alerts ^ quiet)


def test_every_alert_says_how_bad_and_what_to_do() -> None:
    for rule in rules():
        assert "for" in rule and rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"] and len(rule["annotations"]["description"]) > 80, rule["alert"]


def exposed() -> dict[str, dict[str, set[str]]]:
    """Every sample name the registry exposes once a worker has primed its series, with
    the label values seen for it. Families without samples yet (histograms, the SendGrid
    reports) still expose their type, hence their sample names."""
    metrics.prime("outbox")
    names: dict[str, dict[str, set[str]]] = {}
    for family in text_string_to_metric_families(generate_latest(REGISTRY).decode()):
        for suffix in SUFFIXES[family.type]:
            names.setdefault(family.name + suffix, {})
        for sample in family.samples:
            for label, value in sample.labels.items():
                names.setdefault(sample.name, {}).setdefault(label, set()).add(value)
    return names


def test_every_metric_and_label_value_the_rules_name_is_exposed() -> None:
    names = exposed()
    referenced = set()
    for rule in rules():
        for name, matchers in SELECTOR.findall(rule["expr"]):
            referenced.add(name)
            assert name in names, f"{rule['alert']}: {name} is not exposed by relance.platform.metrics"
            # Label values known after prime() (reasons) must exist: `reason="held"` on a
            # metric without a held series would never fire. Transports are not: prime()
            # creates only the worker's own (outbox here).
            for label, op, value in MATCHER.findall(matchers):
                known = names[name].get(label)
                if known and label != "transport" and op in ("=", "=~"):
                    missing = set(value.split("|")) - known
                    assert not missing, f"{rule['alert']}: {name}{{{label}{op}{value!r}}}: no {sorted(missing)}"
    assert {
        "relance_emails_failed_total",
        "relance_delivery_seconds_count",
        "relance_pdf_render_seconds_bucket",
    } <= referenced


def test_the_docs_table_lists_exactly_the_alerts() -> None:
    text = OPERATIONS.read_text()
    section = text[text.index("### Alerts") : text.index("### The Temporal SDK's metrics")]
    assert set(re.findall(r"^\| `(Relance\w+)` \|", section, re.M)) == {rule["alert"] for rule in rules()}


def test_the_documented_prometheus_configuration_loads_the_rules(tmp_path: Path) -> None:
    """The prometheus.yml in docs/operations.md, with the rules file beside it, as promtool
    reads it (rule files included)."""
    text = OPERATIONS.read_text()
    config = re.search(r"```yaml\n(# prometheus\.yml\n.*?)```", text, re.S)
    assert config, "docs/operations.md lost its prometheus.yml example"
    (tmp_path / "prometheus.yml").write_text(config.group(1))
    shutil.copy(RULES, tmp_path / "relance-alerts.yml")
    out = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert "SUCCESS: 1 rule files found" in out, out
