"""The suspicious-transaction report (STR) of a case, as JSON or CSV.

It holds the customer, every transaction the case holds (alerted and
folded), the typologies the rules named, the narrative and the four-eyes
approvals. The JSON is one document; the CSV is one row per transaction with
the case-level fields repeated, for a regulator's upload form or a
spreadsheet.

>>> import io
>>> out = io.StringIO()
>>> write_str_csv({"case_id": 1, "customer_id": "C1", "typologies": [], "narrative": "n",
...                "prepared_by": None, "prepared_at": None, "approved_by": None,
...                "approved_at": None, "status": "escalated", "resolution": None,
...                "transactions": []}, out)
0
>>> out.getvalue().splitlines()[0].split(",")[:3]
['case_id', 'customer_id', 'status']
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TextIO

from alerts.engine import dumps_json
from riskwatch.contracts import ts_to_iso

CSV_COLUMNS: tuple[str, ...] = (
    "case_id",
    "customer_id",
    "status",
    "resolution",
    "typologies",
    "narrative",
    "prepared_by",
    "prepared_at",
    "approved_by",
    "approved_at",
    "txn_id",
    "ts",
    "channel",
    "direction",
    "kind",
    "amount",
    "currency",
    "counterparty_account",
    "country",
    "alert_id",
    "score",
    "rules_fired",
)


def build_str(case: Mapping[str, Any]) -> dict[str, Any]:
    """The report of a case read by :meth:`alerts.casefile.CaseFile.case`."""
    transactions = []
    for alert in case["alerts"]:
        rules = ";".join(f"{r['rule_id']}@v{r['version']}" for r in alert["rules"])
        transactions.append(
            {
                **alert["txn"],
                "alert_id": alert["alert_id"],
                "score": alert["score"],
                "rules_fired": rules,
            }
        )
    for fold in case["folds"]:
        transactions.append(
            {
                **fold["txn"],
                "alert_id": fold["folded_into"],
                "score": fold["score"],
                "rules_fired": fold["rule_id"],
            }
        )
    transactions.sort(key=lambda t: (t["ts"], t["txn_id"]))
    typologies = sorted({t for alert in case["alerts"] for t in alert["typologies"]})
    return {
        "case_id": case["case_id"],
        "customer_id": case["customer_id"],
        "status": case["status"],
        "resolution": case["resolution"],
        "typologies": typologies,
        "narrative": case["str_narrative"],
        "prepared_by": case["str_prepared_by"],
        "prepared_at": _iso(case["str_prepared_at"]),
        "approved_by": case["str_approved_by"],
        "approved_at": _iso(case["str_approved_at"]),
        "transactions": transactions,
    }


def write_str_json(report: Mapping[str, Any], out: TextIO) -> None:
    out.write(dumps_json(dict(report)))
    out.write("\n")


def write_str_csv(report: Mapping[str, Any], out: TextIO) -> int:
    """A header and one row per transaction; returns the number of transactions."""
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    case_fields = {
        **{k: report[k] for k in CSV_COLUMNS if k in report and k != "typologies"},
        "typologies": ";".join(report["typologies"]),
    }
    for txn in report["transactions"]:
        writer.writerow({**txn, **case_fields})
    return len(report["transactions"])


def _iso(value: datetime | None) -> str | None:
    return None if value is None else ts_to_iso(value)
