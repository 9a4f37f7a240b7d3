"""Evaluate loaded rule packs against one transaction's features.

Each rule's outcome is recorded as a hit, no hit, or an error with a code
(``missing_feature``, ``type_error``, ``division_by_zero``, ``error``); an
error in one rule never stops the others or the flow. Shadow rules are
evaluated and reported but never contribute to an alert.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from riskwatch.contracts import RuleHit
from rules.pack import Rule, RulePack

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """What one rule made of one event."""

    rule: Rule
    status: str
    """``hit``, ``no_hit`` or ``error``."""
    error_code: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """All outcomes for one event, and the active hits that count toward an alert."""

    outcomes: tuple[RuleOutcome, ...]
    hits: tuple[RuleHit, ...]
    shadow_hits: tuple[RuleHit, ...]


def _error_code(exc: Exception) -> str:
    if isinstance(exc, NameError):
        return "missing_feature"
    if isinstance(exc, ZeroDivisionError):
        return "division_by_zero"
    if isinstance(exc, TypeError):
        return "type_error"
    return "error"


class RuleEngine:
    """Evaluates every non-off rule of its packs, in pack order."""

    def __init__(self, packs: Sequence[RulePack]) -> None:
        self.packs = tuple(packs)
        self._rules = tuple(
            (pack, rule) for pack in self.packs for rule in pack.rules if rule.mode != "off"
        )
        self._params: dict[str, Any] = {}
        for pack in self.packs:
            self._params.update(pack.params)

    @property
    def version(self) -> str:
        """The packs and versions in force, recorded on every alert."""
        return ",".join(pack.label for pack in self.packs)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(rule for _, rule in self._rules)

    def evaluate(self, features: Mapping[str, Any]) -> Evaluation:
        namespace = {**self._params, **features}
        outcomes: list[RuleOutcome] = []
        hits: list[RuleHit] = []
        shadow: list[RuleHit] = []
        for _, rule in self._rules:
            try:
                fired = bool(rule.when.evaluate(namespace))
            except Exception as exc:
                code = _error_code(exc)
                outcomes.append(RuleOutcome(rule, "error", code, f"{type(exc).__name__}: {exc}"))
                logger.debug("rule %s v%d failed: %s", rule.id, rule.version, exc)
                continue
            if not fired:
                outcomes.append(RuleOutcome(rule, "no_hit"))
                continue
            outcomes.append(RuleOutcome(rule, "hit"))
            hit = RuleHit(
                rule_id=rule.id,
                version=rule.version,
                score=rule.score,
                severity=rule.severity,
                typology=rule.typology,
                description=rule.description,
                values={name: namespace.get(name) for name in rule.when.names},
            )
            (shadow if rule.mode == "shadow" else hits).append(hit)
        return Evaluation(tuple(outcomes), tuple(hits), tuple(shadow))
