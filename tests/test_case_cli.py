"""``riskwatch cases``, ``audit verify`` and ``alerts export`` against a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from alerts.store import CaseStore
from riskwatch import cli
from tests.casekit import make_alert


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    with CaseStore(f"sqlite:///{tmp_path / 'riskwatch.db'}") as store:
        store.write_alerts([make_alert(1, "C1", 90.0), make_alert(2, "C2", 55.0)])
    return tmp_path


def run(data_dir: Path, *argv: str) -> int:
    return cli.main([*argv, "--data-dir", str(data_dir)])


def test_cases_are_worked_from_the_shell_as_named_users(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(data_dir, "cases", "user", "add", "ana", "--role", "analyst") == 0
    token = capsys.readouterr().out.strip()
    assert len(token) > 30
    assert run(data_dir, "cases", "list", "--json") == 0
    queue = orjson.loads(capsys.readouterr().out)
    assert [c["customer_id"] for c in queue] == ["C1", "C2"]
    case_id = queue[0]["case_id"]

    assert (
        run(
            data_dir,
            "cases",
            "close",
            str(case_id),
            "--resolution",
            "confirmed_fraud",
            "--as",
            "ana",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "closed (confirmed_fraud)" in out and "1 label(s) sent" in out
    label = orjson.loads((data_dir / "analyst-labels.jsonl").read_bytes())
    assert (label["txn_id"], label["label"]) == ("T1", "fraud")

    assert (
        run(
            data_dir,
            "cases",
            "close",
            str(case_id),
            "--resolution",
            "false_positive",
            "--as",
            "ana",
        )
        == 1
    )
    assert "closed cases are final" in capsys.readouterr().err
    assert run(data_dir, "cases", "str", "approve", str(case_id), "--as", "ana") == 1
    assert "needs compliance" in capsys.readouterr().err
    assert run(data_dir, "cases", "assign", str(case_id), "x", "--as", "nobody") == 1
    assert "no user 'nobody'" in capsys.readouterr().err


def test_audit_verify_exits_1_on_an_edited_entry(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(data_dir, "cases", "user", "add", "ana", "--role", "analyst")
    run(data_dir, "cases", "assign", "1", "ana", "--as", "ana")
    capsys.readouterr()
    assert run(data_dir, "audit", "verify") == 0
    assert "audit chain intact: 4 entries" in capsys.readouterr().out

    engine = sa.create_engine(f"sqlite:///{data_dir / 'riskwatch.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER audit_log_no_update"))
        conn.execute(sa.text('UPDATE audit_log SET after = \'{"owner": "bob"}\' WHERE seq = 4'))
    engine.dispose()

    assert run(data_dir, "audit", "verify") == 1
    assert "entry 4 (assign) was edited" in capsys.readouterr().err


def test_alerts_export_writes_csv(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = data_dir / "alerts.csv"
    assert run(data_dir, "alerts", "export", "--format", "csv", "--out", str(out)) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("alert_id,case_id,customer_id")
    assert len(lines) == 3


def test_serve_starts_the_api_and_ui_and_stops_on_sigterm(data_dir: Path) -> None:
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    from riskwatch.services import free_port

    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "riskwatch.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    assert r.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ui/login", timeout=5) as page:
            assert b"API token" in page.read()
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=20)[0].decode()
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "Traceback" not in output
    assert f"http://127.0.0.1:{port}/ui/" in output
