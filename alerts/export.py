"""Write stored alerts out as JSONL or CSV, each with its explanation.

Input is what :meth:`alerts.store.CaseStore.list_alerts` returns, so the later
``riskwatch alerts export`` command is a query and one of these writers.

JSONL keeps everything (the alert's wire form from
:meth:`riskwatch.contracts.Alert.to_json_dict`, plus its case, channel and
typologies) for machines and replays. CSV is for people with a spreadsheet:
one flat row per alert, the explanation folded into readable text columns.

>>> import io
>>> out = io.StringIO()
>>> write_csv([], out)
0
>>> out.getvalue().split(",")[:3]
['alert_id', 'case_id', 'customer_id']
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TextIO

from alerts.engine import dumps_json
from riskwatch.contracts import ts_to_iso

AlertRow = Mapping[str, Any]
Writer = Callable[[Iterable[AlertRow], TextIO], int]

CSV_COLUMNS: tuple[str, ...] = (
    "alert_id",
    "case_id",
    "customer_id",
    "txn_id",
    "event_time",
    "detected_at",
    "score",
    "severity",
    "channel",
    "amount",
    "currency",
    "typologies",
    "rules_fired",
    "model_scores",
    "top_features",
    "explanation",
    "rule_pack_version",
    "model_version",
)


def write_jsonl(rows: Iterable[AlertRow], out: TextIO) -> int:
    """One JSON object per line, times as ISO 8601 UTC; returns the number written."""
    written = 0
    for row in rows:
        out.write(dumps_json(_jsonable(row)))
        out.write("\n")
        written += 1
    return written


def write_csv(rows: Iterable[AlertRow], out: TextIO) -> int:
    """A header and one row per alert; returns the number of alerts written.

    Open ``out`` with ``newline=""``, as the :mod:`csv` module asks.
    """
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    written = 0
    for row in rows:
        writer.writerow(_flat(row))
        written += 1
    return written


#: The writer for each ``--format`` the export command accepts.
WRITERS: dict[str, Writer] = {"jsonl": write_jsonl, "csv": write_csv}


def _jsonable(row: AlertRow) -> dict[str, Any]:
    # The contract's own time format, not orjson's, so exports diff cleanly
    # against the alerts topic.
    return {k: ts_to_iso(v) if isinstance(v, datetime) else v for k, v in row.items()}


def _flat(row: AlertRow) -> dict[str, Any]:
    txn = row.get("txn") or {}
    rules = row.get("rules") or []
    models = row.get("models") or []
    return {
        "alert_id": row["alert_id"],
        "case_id": row.get("case_id", ""),
        "customer_id": row["customer_id"],
        "txn_id": row["txn_id"],
        "event_time": ts_to_iso(row["event_time"]),
        "detected_at": ts_to_iso(row["detected_at"]),
        "score": row["score"],
        "severity": row["severity"],
        "channel": row.get("channel", txn.get("channel", "")),
        "amount": txn.get("amount", ""),
        "currency": txn.get("currency", ""),
        "typologies": ";".join(row.get("typologies") or []),
        "rules_fired": ";".join(f"{r['rule_id']}@v{r['version']}" for r in rules),
        "model_scores": ";".join(f"{m['model']}@{m['version']}={m['score']:g}" for m in models),
        "top_features": ";".join(_top_features(m) for m in models if m.get("top_features")),
        "explanation": "; ".join(r["description"] for r in rules if r.get("description")),
        "rule_pack_version": row["rule_pack_version"],
        "model_version": row["model_version"],
    }


def _top_features(model: Mapping[str, Any]) -> str:
    features = ",".join(f"{name}={weight:+.3g}" for name, weight in model["top_features"])
    return f"{model['model']}:{features}"
