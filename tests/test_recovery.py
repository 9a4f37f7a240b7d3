"""A run that dies midway and resumes from Bytewax recovery loses and doubles nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSource, run_main

from alerts.metrics import PipelineMetrics
from flows.monitor import get_flow
from riskwatch.contracts import RawRecord
from tests.flowkit import alert_scores, everyday_traffic, redis_state, settings_for_test, spree


def test_an_aborted_run_resumes_without_loss_or_double_counting(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    records = everyday_traffic(customers=10, per_customer=12)
    records += spree("C004", 300) + spree("C008", 700, first_n=910000)
    raw = [
        RawRecord("test", "0", i, orjson.dumps(r))
        for i, r in enumerate(sorted(records, key=lambda r: r["ts"]))
    ]

    # The reference: one uninterrupted run.
    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    clean = settings_for_test(clean_dir, redis_url, f"{key_prefix}c")
    run_main(get_flow(clean, source=TestingSource(raw, 10)))

    # The same input, killed two thirds of the way through, then resumed.
    resumed_dir = tmp_path / "resumed"
    recovery = resumed_dir / "recovery"
    recovery.mkdir(parents=True)
    init_db_dir(recovery, 1)
    resumed = settings_for_test(resumed_dir, redis_url, f"{key_prefix}r")
    cut = 2 * len(raw) // 3
    source = TestingSource([*raw[:cut], TestingSource.ABORT(), *raw[cut:]], 10)
    config = RecoveryConfig(recovery)
    first, second = PipelineMetrics(), PipelineMetrics()
    # An abort ends the execution as a crash would, without finishing the input.
    run_main(
        get_flow(resumed, first, source=source),
        epoch_interval=timedelta(0),
        recovery_config=config,
    )
    assert 0 < first.totals()["processed"] < len(raw), "the first run stopped midway"
    run_main(
        get_flow(resumed, second, source=source),
        epoch_interval=timedelta(0),
        recovery_config=config,
    )

    processed = first.totals()["processed"] + second.totals()["processed"]
    replayed = second.totals()["duplicates"]
    assert processed - replayed == len(raw), "every record processed once, replays aside"
    assert redis_state(redis_url, f"{key_prefix}r") == redis_state(redis_url, f"{key_prefix}c")
    assert alert_scores(resumed.database_url) == alert_scores(clean.database_url)
    assert alert_scores(clean.database_url), "the sprees alert"


@pytest.mark.parametrize("processes", [1, 2])
def test_a_signal_stops_the_monitor_cleanly_and_a_rerun_completes_it(
    tmp_path: Path, redis_url: str, key_prefix: str, processes: int
) -> None:
    """SIGTERM mid-run: exit 130 with a summary; running again finishes the work once.

    With two processes (``--processes 2``) the signal reaches the parent
    alone, which passes it on to its cluster, even when the monitor was
    started with SIGINT ignored (as a shell starts a background job).
    """
    import os
    import re
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    from riskwatch.services import free_port_run

    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "RISKWATCH_REDIS__NAMESPACE": key_prefix,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cases.db'}",
    }
    env.pop("KAFKA_BROKERS", None)
    port = free_port_run(processes)  # process i serves metrics on port + i
    argv = [sys.executable, "-m", "riskwatch.cli", "run", "--source", "simulator",
            "--customers", "1200", "--days", "30", "--data-dir", str(tmp_path),
            "--processes", str(processes)]  # fmt: skip
    log = (tmp_path / "monitor.log").open("wb")
    # Started as a shell's background job is: SIGINT ignored. The monitor stops
    # on SIGTERM all the same, and passes the stop on to its cluster.
    proc = subprocess.Popen(
        [*argv, "--metrics-address", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    # Signal once the monitor is seen assessing, well before it could finish.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
                if re.search(rb"riskwatch_records_processed_total [1-9]", reply.read()):
                    break
        except OSError:
            pass
        time.sleep(0.2)
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    log.close()
    text = out.decode()
    stderr = (tmp_path / "monitor.log").read_text(errors="replace")[-4000:]
    waited = time.monotonic() - signalled
    assert proc.returncode == 130, f"{text}\nexited {waited:.1f} s after SIGTERM\n{stderr}"
    assert "stopped by a signal" in text

    def figure(name: str, summary: str) -> int:
        match = re.search(rf"{name}\s+([\d,]+)", summary)
        assert match, summary
        return int(match.group(1).replace(",", ""))

    rerun = subprocess.run(argv, env=env, capture_output=True, timeout=300, check=True)
    summary = rerun.stdout.decode()
    from simulator import SimulationConfig, simulate

    total = sum(1 for _ in simulate(SimulationConfig(seed=7, customers=1200, days=30)))
    assert figure("events read", summary) == total
    assert figure("processed", summary) == total
    first_processed = figure("processed", text)
    assert figure(r"among them:", summary) >= first_processed, "the first run's work is not redone"
