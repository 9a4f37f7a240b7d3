"""Folding in the running monitor: a spree's repeated rule hits become one
alert with its repeats counted on the case."""

from __future__ import annotations

from pathlib import Path

import orjson
from bytewax.testing import TestingSource, run_main

from alerts.metrics import PipelineMetrics
from alerts.store import CaseStore
from flows.monitor import get_flow
from tests.flowkit import everyday_traffic, settings_for_test, spree
from tests.test_flow import raw_records


def test_the_monitor_folds_a_spree_s_repeats(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    # The foundation pack's rules set no suppression window of their own, so
    # every hit of the spree reaches the store, which folds by its default window.
    settings = settings_for_test(
        tmp_path,
        redis_url,
        key_prefix,
        cases={"fold_window_seconds": 3600},
        detection={"rule_packs": ["foundation"]},
    )
    records = everyday_traffic() + spree("C007", start_minutes=600)
    payloads = [orjson.dumps(r) for r in sorted(records, key=lambda r: r["ts"])]

    metrics = PipelineMetrics()
    run_main(get_flow(settings, metrics, source=TestingSource(raw_records(payloads), 10)))

    raised = int(metrics.totals()["alerts"])
    with CaseStore(settings.database_url) as store:
        stored, folded = store.count_alerts(), store.count_folded()
        (case,) = store.list_cases()
    assert raised >= 3, "the spree must alert repeatedly"
    assert folded > 0
    assert stored + folded == raised
    assert (case["alert_count"], case["folded_count"]) == (stored, folded)
