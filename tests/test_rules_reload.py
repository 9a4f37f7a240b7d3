"""Hot reload: a changed pack is swapped in whole, a broken one never, without a restart."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
from bytewax.testing import TestingSource, run_main

from alerts.metrics import PipelineMetrics
from flows.monitor import get_flow
from riskwatch.contracts import RawRecord
from rules.engine import RuleEngine
from rules.pack import load_pack
from rules.reload import RuleBook, signal_reload
from tests.flowkit import everyday_traffic, settings_for_test, stored_alerts
from tests.rulekit import FEATURES


def pack_text(version: int, threshold: float, when: str = "amount >= threshold") -> str:
    return f"""pack: trial
version: {version}
params:
  threshold: {threshold}
rules:
  - id: big
    version: {version}
    description: a big amount
    typology: test
    severity: high
    score: 90
    entity: customer
    mode: active
    when: {when}
"""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pack_file(tmp_path: Path) -> Path:
    path = tmp_path / "trial.yaml"
    path.write_text(pack_text(1, 1000))
    return path


def book_for(
    path: Path, clock: Clock, client: redis.Redis | None = None, namespace: str = "rw"
) -> tuple[RuleBook, list[str]]:
    outcomes: list[str] = []
    book = RuleBook(
        load=lambda: RuleEngine([load_pack(str(path), FEATURES)]),
        watched=[path],
        check_seconds=5,
        client=client,
        namespace=namespace,
        on_reload=outcomes.append,
        clock=clock,
    )
    return book, outcomes


def rewrite(path: Path, text: str, keep_mtime: bool = False) -> None:
    before = path.stat()
    path.write_text(text)
    if keep_mtime:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    else:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))


def test_a_changed_pack_is_picked_up_at_the_next_check(pack_file: Path) -> None:
    clock = Clock()
    book, outcomes = book_for(pack_file, clock)
    assert book.engine.version == "trial@1"
    rewrite(pack_file, pack_text(2, 500))
    clock.now = 4.9
    assert not book.maybe_reload(), "checked at most every 5 s"
    assert book.engine.version == "trial@1"
    clock.now = 5.0
    assert book.maybe_reload()
    assert book.engine.version == "trial@2"
    assert [h.version for h in book.engine.evaluate({"amount": 600.0}).hits] == [2]
    assert outcomes == ["ok"]
    clock.now = 10.0
    assert not book.maybe_reload(), "nothing changed since"


def test_a_broken_pack_leaves_the_old_one_in_force(pack_file: Path) -> None:
    clock = Clock()
    book, outcomes = book_for(pack_file, clock)
    old = book.engine
    rewrite(pack_file, pack_text(2, 500, when="amount >= threshold and amount.real > 0"))
    clock.now = 5.0
    assert not book.maybe_reload()
    assert book.engine is old
    assert outcomes == ["failed"]
    clock.now = 10.0
    assert not book.maybe_reload()
    assert outcomes == ["failed"], "not retried until the file changes again"
    rewrite(pack_file, pack_text(3, 500))
    clock.now = 15.0
    assert book.maybe_reload()
    assert book.engine.version == "trial@3"


def test_the_reload_signal_in_redis_reloads_without_a_file_change(
    pack_file: Path, redis_url: str, key_prefix: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    clock = Clock()
    book, _ = book_for(pack_file, clock, client, key_prefix)
    rewrite(pack_file, pack_text(2, 500), keep_mtime=True)
    clock.now = 5.0
    assert not book.maybe_reload(), "same mtime, no signal: nothing to see"
    signal_reload(client, key_prefix)
    clock.now = 10.0
    assert book.maybe_reload()
    assert book.engine.version == "trial@2"


def test_the_running_flow_swaps_packs_between_batches(
    tmp_path: Path, pack_file: Path, redis_url: str, key_prefix: str
) -> None:
    """The monitor keeps running while its pack changes; alerts record the version in force."""
    settings = settings_for_test(
        tmp_path,
        redis_url,
        key_prefix,
        detection={"rule_packs": [str(pack_file)], "rule_reload_seconds": 0.001},
    )
    traffic = [orjson.dumps(r) for r in everyday_traffic(customers=10, per_customer=20)]
    half = len(traffic) // 2

    def records() -> Iterator[RawRecord]:
        for i, payload in enumerate(traffic):
            if i == half:
                # From here on every purchase is "big": the new version alerts on all.
                rewrite(pack_file, pack_text(2, 1))
            yield RawRecord("test", "0", i, payload)

    metrics = PipelineMetrics()
    run_main(get_flow(settings, metrics, source=TestingSource(records(), 10)))

    alerts = stored_alerts(settings.database_url)
    versions = {a["rule_pack_version"] for a in alerts}
    assert versions == {"trial@2"}, "v1 (1,000 and up) fires on none of this traffic"
    assert len(alerts) >= len(traffic) - half - 20, "all but the batches already read"
    assert all(hit["version"] == 2 for a in alerts for hit in a["rules"])
    reloads = metrics.registry.get_sample_value("riskwatch_rule_reloads_total", {"outcome": "ok"})
    assert reloads == 1


def test_rules_reload_validates_then_signals_the_monitors(
    redis_url: str,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from riskwatch.cli import main
    from rules.reload import reload_signal_key

    client = redis.Redis.from_url(redis_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("RISKWATCH_REDIS__NAMESPACE", key_prefix)
    monkeypatch.setenv("RISKWATCH_DETECTION__RULE_PARAMS", '{"large_cash_threshold": 30000}')
    assert main(["rules", "reload"]) == 0
    assert client.get(reload_signal_key(key_prefix)) == b"1"
    assert "validated card_fraud@2,aml@3" in capsys.readouterr().out
    # One pack alone lints with overrides meant for another pack.
    assert main(["rules", "test", "card_fraud"]) == 0

    monkeypatch.setenv("RISKWATCH_DETECTION__RULE_PARAMS", '{"large_cash_treshold": 30000}')
    assert main(["rules", "reload"]) == 1, "a typo in an override: nothing is signalled"
    assert client.get(reload_signal_key(key_prefix)) == b"1"
    assert "not reloaded" in capsys.readouterr().err

    monkeypatch.delenv("REDIS_URL")
    monkeypatch.delenv("RISKWATCH_DETECTION__RULE_PARAMS")
    assert main(["rules", "reload"]) == 2
    assert "no Redis configured" in capsys.readouterr().err
