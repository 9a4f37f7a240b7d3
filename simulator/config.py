"""What one simulation run is asked to produce.

One frozen, validated settings object, built at the edge (the CLI, a test)
and passed down. Two equal configs give byte-identical output, so a config
names a dataset: its :meth:`SimulationConfig.tag` prefixes every transaction
id of the run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from simulator.errors import ConfigError
from simulator.ids import run_tag
from simulator.scenarios import DEFAULT_RATES, SCENARIOS

#: The default window opens on a Monday, well in the past.
DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)
#: Customer ids have six digits.
MAX_CUSTOMERS = 999_999
MAX_DAYS = 3660


#: Hours from an incident's last transaction until its label is known, by
#: label value: chargebacks come days later, laundering is confirmed by an
#: investigation weeks later, a flagged look-alike is cleared within days.
DEFAULT_LABEL_DELAYS: Mapping[str, tuple[float, float]] = {
    "fraud": (24.0, 240.0),
    "suspicious": (72.0, 720.0),
    "legit": (12.0, 120.0),
}


def _default_rates() -> dict[str, float]:
    return dict(DEFAULT_RATES)


def _default_delays() -> dict[str, tuple[float, float]]:
    return dict(DEFAULT_LABEL_DELAYS)


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """Settings of one run.

    ``rates`` maps scenario names to the chance per customer-day that the
    scenario hits; scenarios left out keep their default rate, and a rate of
    0 turns a scenario off. The stored mapping is a normalised copy that
    lists every scenario; treat it as read-only.

    ``label_delays`` maps a label value (``fraud``, ``suspicious``,
    ``legit``) to the range of hours, drawn uniformly per incident, between
    the incident's last transaction and the moment its label is known (the
    label's ``ts``); ``(0, 0)`` makes labels immediate. Values left out keep
    their defaults.
    """

    seed: int = 0
    customers: int = 1_000
    days: int = 7
    start: datetime = DEFAULT_START
    rates: Mapping[str, float] = field(default_factory=_default_rates, hash=False)
    currency: str = "CNY"
    label_delays: Mapping[str, tuple[float, float]] = field(
        default_factory=_default_delays, hash=False
    )

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            msg = f"seed must be an int, got {self.seed!r}"
            raise ConfigError(msg)
        if not isinstance(self.customers, int) or not 1 <= self.customers <= MAX_CUSTOMERS:
            msg = f"customers must be 1..{MAX_CUSTOMERS}, got {self.customers}"
            raise ConfigError(msg)
        if not isinstance(self.days, int) or not 1 <= self.days <= MAX_DAYS:
            msg = f"days must be 1..{MAX_DAYS}, got {self.days}"
            raise ConfigError(msg)
        if not isinstance(self.start, datetime) or self.start.utcoffset() is None:
            msg = f"start must be a timezone-aware datetime, got {self.start!r}"
            raise ConfigError(msg)
        if self.start.microsecond % 1000:
            msg = f"start must be whole milliseconds, got {self.start.isoformat()}"
            raise ConfigError(msg)
        if not re.fullmatch(r"[A-Z]{3}", self.currency):
            msg = f"currency must be an ISO 4217 code, got {self.currency!r}"
            raise ConfigError(msg)
        unknown = sorted(set(self.rates) - set(SCENARIOS))
        if unknown:
            msg = f"unknown scenarios {unknown}; known: {sorted(SCENARIOS)}"
            raise ConfigError(msg)
        rates = {name: float(self.rates.get(name, DEFAULT_RATES[name])) for name in SCENARIOS}
        for name, rate in rates.items():
            if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
                msg = f"rate of {name} must be within 0..1, got {rate}"
                raise ConfigError(msg)
        object.__setattr__(self, "rates", rates)
        object.__setattr__(self, "label_delays", _delays(self.label_delays))

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    def tag(self) -> str:
        """Eight hex digits naming these settings, the prefix of the run's txn ids."""
        return run_tag(
            self.seed,
            self.customers,
            self.days,
            self.start.astimezone(UTC).isoformat(),
            sorted(self.rates.items()),
            self.currency,
            sorted(self.label_delays.items()),
        )


def _delays(given: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    unknown = sorted(set(given) - set(DEFAULT_LABEL_DELAYS))
    if unknown:
        msg = (
            f"unknown label values {unknown} in label_delays; known: {sorted(DEFAULT_LABEL_DELAYS)}"
        )
        raise ConfigError(msg)
    out = {}
    for value, default in DEFAULT_LABEL_DELAYS.items():
        bounds = given.get(value, default)
        try:
            lo, hi = (float(b) for b in bounds)
        except (TypeError, ValueError) as exc:
            msg = f"label delay of {value} must be (low, high) hours, got {bounds!r}"
            raise ConfigError(msg) from exc
        if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo <= hi):
            msg = f"label delay of {value} must be 0 <= low <= high hours, got {bounds!r}"
            raise ConfigError(msg)
        out[value] = (lo, hi)
    return out
