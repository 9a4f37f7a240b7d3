"""Drift of features and scores, watched by River's ADWIN.

Each watched signal (a few model inputs and each model's score) feeds one
``river.drift.ADWIN``; a detected change increments
``riskwatch_drift_detected_total{signal}`` and the mean of ADWIN's current
window is exported as ``riskwatch_drift_window_mean{signal}``, so a
dashboard shows both the alarm and the level it moved to.

ADWIN costs a few microseconds per update; one detector per signal per
worker is shared by the worker's shards. It watches one event in
``sample_every``: a distribution that moves shows in a sample as it does in
every event (a little later in event count, not in event time, at thousands
of events a second), and the watch costs that much less.
"""

from __future__ import annotations

from collections.abc import Mapping

from river import drift

#: Model inputs whose distribution is watched, beside the model scores.
WATCHED_INPUTS = ("log_amount", "ratio", "debit_count_24h", "terminal_risk_7d")


class DriftWatch:
    """One ADWIN per signal; reports which signals drifted on the last update.

    >>> import random
    >>> rng = random.Random(1)
    >>> watch = DriftWatch(delta=0.002)
    >>> early = [s for _ in range(2000) for s in watch.update({"score": rng.gauss(0.1, 0.02)})]
    >>> late = [s for _ in range(2000) for s in watch.update({"score": rng.gauss(0.6, 0.02)})]
    >>> early, "score" in late
    ([], True)
    """

    def __init__(self, delta: float, sample_every: int = 1) -> None:
        self._delta = delta
        self._detectors: dict[str, drift.ADWIN] = {}
        self.sample_every = max(1, sample_every)
        self._due = 0

    def __setstate__(self, state: dict[str, object]) -> None:
        # Snapshots pickled before sampling watched every event.
        state.setdefault("sample_every", 1)
        state.setdefault("_due", 0)
        self.__dict__.update(state)

    def due(self) -> bool:
        """Whether this event is in the watched sample (one in ``sample_every``)."""
        self._due -= 1
        if self._due > 0:
            return False
        self._due = self.sample_every
        return True

    def update(self, values: Mapping[str, float]) -> list[str]:
        drifted = []
        for signal, value in values.items():
            detector = self._detectors.get(signal)
            if detector is None:
                detector = self._detectors[signal] = drift.ADWIN(delta=self._delta)
            detector.update(value)
            if detector.drift_detected:
                drifted.append(signal)
        return drifted

    def means(self) -> dict[str, float]:
        """Each signal's mean over ADWIN's current window."""
        return {signal: float(d.estimation) for signal, d in self._detectors.items()}
