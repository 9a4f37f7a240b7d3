"""Grafana: alerts as annotations on the ops dashboards, and the dashboards themselves.

The case store is the system of record for alerts; Grafana only shows them
on the operations screens beside the throughput and latency they happened
with. So annotating is best effort: a Grafana that is down or refuses a
request costs a counted, logged failure (``riskwatch_grafana_annotations_total
{outcome="failed"}``), never an alert and never the flow. Annotations are
placed at the alert's detection time (the wall clock the Prometheus series
share), with the transaction's event time in the text, and tagged
``riskwatch``, ``alert``, the severity, the channel and each rule id, which is
what the detection dashboard's annotation query selects on.

grafana-client is pinned at 3.11, the last release on ``requests``: from 4.0
it depends on niquests, whose urllib3-future installs a ``.pth`` hook that
overwrites the ``urllib3`` package in the environment at every interpreter
start, which broke every requests-based tool beside it here (schemathesis,
selenium). The HTTP API it calls (folders, dashboards, annotations) is the
same.

The dashboards are data (``config/grafana/dashboards/*.json``); Grafana's
file provisioning (``config/grafana/provisioning``) loads them, or
:func:`push_dashboards` (``riskwatch grafana push``) uploads them over the
HTTP API where provisioning files cannot be placed.
"""

from __future__ import annotations

import importlib.resources
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException
from requests.exceptions import RequestException

from alerts.metrics import PipelineMetrics
from alerts.schema import SEVERITIES
from riskwatch.contracts import Alert
from riskwatch.settings import GrafanaSettings

logger = logging.getLogger(__name__)

FOLDER_UID = "riskwatch"
FOLDER_TITLE = "riskwatch"
#: What a Grafana call can raise besides a programming error.
GRAFANA_ERRORS = (GrafanaException, RequestException, OSError)


class GrafanaPushError(Exception):
    """Grafana did not take a dashboard; the message names it and Grafana's answer."""


def connect(url: str, token: str | None, timeout: float) -> GrafanaApi:
    """A client for the Grafana at ``url`` (a service-account token, or none)."""
    return GrafanaApi.from_url(url, credential=token, timeout=timeout)


def connect_configured(settings: GrafanaSettings, url: str | None = None) -> GrafanaApi:
    """A client for the configured Grafana (or ``url``), with its token and timeout."""
    token = settings.token.get_secret_value() if settings.token else None
    return connect(str(url or settings.url), token, settings.timeout_seconds)


def dashboards() -> list[dict[str, Any]]:
    """The shipped dashboards, in name order."""
    folder = importlib.resources.files("config") / "grafana" / "dashboards"
    found = sorted((p for p in folder.iterdir() if p.name.endswith(".json")), key=lambda p: p.name)
    return [json.loads(p.read_text(encoding="utf-8")) for p in found]


def annotation(alert: Alert) -> dict[str, Any]:
    """The annotation for one alert: Grafana's ``POST /api/annotations`` body."""
    rules = ", ".join(f"{r.rule_id} v{r.version}" for r in alert.rules) or "models only"
    text = (
        f"riskwatch alert {alert.alert_id}: score {alert.score:.0f} ({alert.severity}), "
        f"customer {alert.customer_id}, {alert.txn.channel} {alert.txn.amount} "
        f"{alert.txn.currency} at {alert.event_time.isoformat()}; rules: {rules}"
    )
    tags = ["riskwatch", "alert", alert.severity, alert.txn.channel]
    tags.extend(r.rule_id for r in alert.rules)
    return {
        "time": int(alert.detected_at.timestamp() * 1000),
        "tags": tags,
        "text": text,
    }


@dataclass
class AlertAnnotator:
    """Posts an annotation for each alert at or above ``min_severity``."""

    api: GrafanaApi
    min_severity: str
    metrics: PipelineMetrics

    def __post_init__(self) -> None:
        if self.min_severity not in SEVERITIES:
            msg = f"grafana.annotate_min_severity: one of {SEVERITIES}, not {self.min_severity!r}"
            raise ValueError(msg)
        self._floor = SEVERITIES.index(self.min_severity)

    def annotate(self, alerts: Iterable[Alert]) -> int:
        """Annotate the batch's alerts worth showing; returns how many Grafana took."""
        sent = failed = 0
        first_error: Exception | None = None
        for alert in alerts:
            if SEVERITIES.index(alert.severity) < self._floor:
                continue
            body = annotation(alert)
            try:
                self.api.annotations.add_annotation(
                    time_from=body["time"], tags=body["tags"], text=body["text"]
                )
            except GRAFANA_ERRORS as exc:
                failed += 1
                first_error = first_error or exc
                continue
            sent += 1
        if sent:
            self.metrics.grafana_annotations.labels(outcome="sent").inc(sent)
        if failed:
            self.metrics.grafana_annotations.labels(outcome="failed").inc(failed)
            logger.warning(
                "grafana: %d alert annotation(s) not taken (the alerts are in the case store): %s",
                failed,
                first_error,
            )
        return sent


def push_dashboards(api: GrafanaApi, boards: Sequence[dict[str, Any]] | None = None) -> list[str]:
    """Upload the dashboards into the ``riskwatch`` folder, replacing older versions.

    Returns the uids uploaded. Raises :class:`GrafanaPushError` naming the
    dashboard Grafana refused.
    """
    try:
        api.folder.get_folder(FOLDER_UID)
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise GrafanaPushError(f"grafana folder {FOLDER_UID!r}: {exc}") from exc
        try:
            api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID)
        except GRAFANA_ERRORS as create_exc:
            msg = f"grafana folder {FOLDER_UID!r} could not be made: {create_exc}"
            raise GrafanaPushError(msg) from create_exc
    except GRAFANA_ERRORS as exc:
        raise GrafanaPushError(f"grafana folder {FOLDER_UID!r}: {exc}") from exc
    uids = []
    for board in dashboards() if boards is None else boards:
        body = {
            "dashboard": {**board, "id": None},
            "folderUid": FOLDER_UID,
            "overwrite": True,
            "message": "riskwatch grafana push",
        }
        try:
            api.dashboard.update_dashboard(body)
        except GRAFANA_ERRORS as exc:
            raise GrafanaPushError(f"dashboard {board.get('uid')!r}: {exc}") from exc
        uids.append(board["uid"])
    return uids
