"""How the case queue treats alerts: fold windows and SLA due times.

Read from the ``[cases]`` settings at the edge and handed to the store, so
that the monitor's writer and the API's reader agree on both.

>>> from datetime import UTC, datetime
>>> policy = CasePolicy(sla_hours={"low": 1, "medium": 1, "high": 1, "critical": 0.5})
>>> policy.sla_due(datetime(2026, 1, 1, tzinfo=UTC), "critical").isoformat()
'2026-01-01T00:30:00+00:00'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerts.schema import SEVERITIES
from riskwatch.settings import Settings

#: Hours from a case's opening until it is due, by its worst severity.
DEFAULT_SLA_HOURS: Mapping[str, float] = {"critical": 4, "high": 24, "medium": 72, "low": 168}


@dataclass(frozen=True, slots=True)
class CasePolicy:
    """Fold window and SLA hours; the defaults fold nothing unless a rule says so."""

    #: Used for a rule that names no suppression window of its own.
    fold_window_seconds: int = 0
    sla_hours: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SLA_HOURS))

    def __post_init__(self) -> None:
        missing = [s for s in SEVERITIES if s not in self.sla_hours]
        if missing:
            msg = f"cases.sla_hours has no hours for severity {', '.join(missing)}"
            raise ValueError(msg)
        if self.fold_window_seconds < 0:
            msg = f"cases.fold_window_seconds must be >= 0, not {self.fold_window_seconds}"
            raise ValueError(msg)

    @classmethod
    def from_settings(cls, settings: Settings) -> CasePolicy:
        """The ``[cases]`` section's policy."""
        return cls(
            fold_window_seconds=settings.cases.fold_window_seconds,
            sla_hours=dict(settings.cases.sla_hours),
        )

    def sla_due(self, opened_at: datetime, severity: str) -> datetime:
        """When a case of this severity, opened then, must be worked."""
        return opened_at + timedelta(hours=float(self.sla_hours[severity]))

    def fold_window(self, hit: Any) -> timedelta:
        """The rule's own suppression window (``RuleHit.suppress_seconds``), else the default."""
        seconds = getattr(hit, "suppress_seconds", None)
        if seconds is None:
            seconds = self.fold_window_seconds
        return timedelta(seconds=max(0, int(seconds)))
