"""docker-compose.yml cannot run here (no Docker engine): check it against the Compose
Specification's JSON schema and against the code it starts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import yaml

from relance.contracts.search_attributes import ALL
from relance.platform.config import Config
from tests.support.specs import specs_dir

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = specs_dir() / "compose" / "compose-spec.json"


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_is_valid_against_the_spec() -> None:
    # The spec names draft-07 by a URL jsonschema does not know (no trailing '#').
    jsonschema.validate(compose(), json.loads(SCHEMA.read_text()), cls=jsonschema.Draft7Validator)


def test_every_relance_variable_exists_in_the_settings() -> None:
    fields = {f"RELANCE_{name.upper()}" for name in Config.model_fields}
    used: set[str] = set()
    for service in compose()["services"].values():
        used.update(k for k in (service.get("environment") or {}) if k.startswith("RELANCE_"))
    used.update(re.findall(r"^(RELANCE_[A-Z0-9_]+)=", (ROOT / "relance.env.example").read_text(), re.M))
    assert used and used <= fields, sorted(used - fields)


def metrics_bind(value: str) -> str:
    """The metrics address the settings read from `value`."""
    bind = Config(_env_file=None, metrics_bind=value).metrics_bind
    assert bind is not None
    return bind


def test_commands_ports_and_search_attributes_match_the_code() -> None:
    from relance.cli import app

    services = compose()["services"]
    commands = {c.name or getattr(c.callback, "__name__", None) for c in app.registered_commands}
    assert services["worker"]["command"] == ["worker"] and "worker" in commands
    assert services["api"]["command"] == ["api"]
    assert services["api"]["environment"]["RELANCE_API_PORT"] == "8000"
    assert "8000:8000" in services["api"]["ports"]
    setup = " ".join(services["temporal-setup"]["command"])
    for key in ALL:
        assert f"--name {key.name} --type" in setup
    assert not any("auto-setup" in str(s.get("image", "")) for s in services.values())
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "libharfbuzz-subset0" in dockerfile and "USER relance" in dockerfile


def test_every_relance_service_runs_a_real_command_with_known_settings() -> None:
    """Each service on the Relance image runs a command the CLI has (sub-commands too,
    such as `db upgrade`), and sets only RELANCE_ variables the settings know."""
    import click
    import typer

    from relance.cli import app
    from relance.platform.config import Config

    cli = typer.main.get_command(app)
    fields = {f"RELANCE_{name.upper()}" for name in Config.model_fields}
    services = {n: s for n, s in compose()["services"].items() if s.get("image") == "relance:latest"}
    assert {"migrate", "worker", "api"} <= set(services)
    for name, service in services.items():
        group, words = cli, list(service["command"])
        while isinstance(group, click.Group) and words:
            group = group.get_command(click.Context(group), words.pop(0))
            assert group is not None, f"{name}: `relance {' '.join(service['command'])}` is not a command"
        assert not isinstance(group, click.Group), f"{name}: `{' '.join(service['command'])}` is a group"
        unknown = {k for k in service.get("environment", {}) if k.startswith("RELANCE_")} - fields
        assert not unknown, f"{name}: {unknown} are not settings"
    # Migrations run once, before any replica: replicas wait for them and do not migrate.
    for name in ("worker", "api"):
        assert services[name]["environment"]["RELANCE_DB_AUTO_MIGRATE"] == "false"
    for service in services.values():
        assert service["environment"]["RELANCE_LOG_FORMAT"] == "json"


def test_metrics_ports_are_valid_binds_and_exposed() -> None:
    """Each service serving metrics exposes the ports its binds name, and the binds parse
    as the settings parse them (Relance's and the SDK's apart: one port cannot serve both)."""
    from relance.platform.config import parse_bind

    services = compose()["services"]
    for name in ("worker", "api"):
        env, exposed = services[name]["environment"], {str(p) for p in services[name].get("expose", [])}
        binds = [env["RELANCE_METRICS_BIND"], env["RELANCE_TEMPORAL_METRICS_BIND"]]
        ports = {str(parse_bind(metrics_bind(b))[1]) for b in binds}
        assert len(ports) == 2 and ports <= exposed, (name, ports, exposed)
        # Not published on the host: a fixed host port would stop `--scale worker=N`.
        assert not any(p.split(":")[0] in ports for p in services[name].get("ports", []))
    assert services["worker"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
