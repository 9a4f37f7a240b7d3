"""The rules as the flow runs them: configured packs, hot reload, suppression, per batch.

:func:`rules_from_settings` loads the configured packs (``detection.rule_packs``
with the ``detection.rule_params`` overrides), checked against the features
the feature builder makes; :class:`RulesRuntime` evaluates a batch with the
engine in force and applies suppression windows in one Redis round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from detectors.features import TEXT_FIELDS, feature_names
from riskwatch.contracts import Transaction
from riskwatch.settings import Settings
from rules.engine import Evaluation, RuleEngine
from rules.pack import load_packs, pack_path
from rules.reload import RuleBook
from rules.suppression import RuleSuppressor


@dataclass
class RulesRuntime:
    """Evaluates a batch with the engine in force, then holds back suppressed hits."""

    book: RuleBook
    suppressor: RuleSuppressor | None = None

    @property
    def engine(self) -> RuleEngine:
        return self.book.engine

    def evaluate_batch(
        self, txns: Sequence[Transaction], features: Sequence[Mapping[str, Any]]
    ) -> list[Evaluation]:
        """One evaluation per transaction, all by the same engine; one round trip at most."""
        self.book.maybe_reload()
        engine = self.book.engine
        evaluations = [engine.evaluate(x) for x in features]
        if self.suppressor is None:
            return evaluations
        return self.suppressor.apply(txns, evaluations)


def vocabulary_for(settings: Settings) -> frozenset[str]:
    """Every name a rule may use: the features the feature builder makes."""
    return frozenset(feature_names())


def engine_from_settings(settings: Settings, packs: Sequence[str] | None = None) -> RuleEngine:
    """An engine over the configured packs (or those named), all loaded or none.

    The ``detection.rule_params`` overrides apply to either; only the configured
    set must declare every one of them.
    """
    names = list(packs) if packs is not None else settings.detection.rule_packs
    loaded = load_packs(
        names,
        vocabulary_for(settings),
        TEXT_FIELDS,
        settings.detection.rule_params,
        check_overrides=packs is None,
    )
    return RuleEngine(loaded)


def watched_paths(names: Sequence[str]) -> list[Path]:
    """The files behind the configured packs, whose changes trigger a reload."""
    return [Path(str(pack_path(name))) for name in names]


def rules_from_settings(
    settings: Settings,
    client: redis.Redis | None,
    on_reload: Callable[[str], None] | None = None,
) -> RulesRuntime:
    """The flow's rules: hot-reloaded from the configured packs, suppressed through Redis."""
    detection = settings.detection
    book = RuleBook(
        load=lambda: engine_from_settings(settings),
        watched=watched_paths(detection.rule_packs),
        check_seconds=detection.rule_reload_seconds,
        client=client,
        namespace=settings.redis.namespace,
        on_reload=on_reload,
    )
    suppressor = None
    if client is not None:
        suppressor = RuleSuppressor(
            client, settings.redis.namespace, settings.state.dedup_horizon_seconds
        )
    return RulesRuntime(book, suppressor)
