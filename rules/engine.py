"""Evaluate loaded rule packs against one transaction's features.

Each rule's outcome is recorded as a hit, no hit, or an error with a code
(``missing_feature``, ``type_error``, ``division_by_zero``, ``error``); an
error in one rule never stops the others or the flow: it is logged and
counted (``riskwatch_rule_outcomes_total{outcome="error"}``). Shadow rules
are evaluated and counted but never contribute to an alert.

The per-event path builds objects only for what happened (hits and errors);
the full list of outcomes, and the per-batch counts the metrics take, are
derived from those on demand.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from riskwatch.contracts import RuleHit
from rules.compiled import fold
from rules.pack import Rule, RulePack

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """What one rule made of one event."""

    rule: Rule
    status: str
    """``hit``, ``no_hit``, ``error`` or ``suppressed`` (a hit inside its suppression window)."""
    error_code: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One event's outcomes, and the active hits that count toward an alert."""

    rules: tuple[Rule, ...]
    """Every rule evaluated (all live rules of the engine), in order."""
    hits: tuple[RuleHit, ...]
    shadow_hits: tuple[RuleHit, ...]
    errors: tuple[RuleOutcome, ...] = ()
    suppressed: tuple[RuleHit, ...] = ()
    """Active hits held back because the rule fired for the same entity within its window."""
    pack_version: str = ""
    """The packs in force when the event was evaluated, e.g. ``card_fraud@1,aml@2``."""
    fired: tuple[Rule, ...] = field(default=())
    """The rules that hit (active, shadow and suppressed alike)."""

    @property
    def outcomes(self) -> tuple[RuleOutcome, ...]:
        """One outcome per evaluated rule, in rule order."""
        failed = {o.rule.id: o for o in self.errors}
        held = {h.rule_id for h in self.suppressed}
        fired = {r.id for r in self.fired}
        out = []
        for rule in self.rules:
            if rule.id in failed:
                out.append(failed[rule.id])
            elif rule.id in held:
                out.append(RuleOutcome(rule, "suppressed"))
            elif rule.id in fired:
                out.append(RuleOutcome(rule, "hit"))
            else:
                out.append(RuleOutcome(rule, "no_hit"))
        return tuple(out)


def count_outcomes(evaluations: Iterable[Evaluation]) -> Counter[tuple[str, str, str]]:
    """(rule id, mode, outcome) counts over many events, for one metric update per batch.

    Only hits, suppressions and errors are visited; no-hits are the remainder.
    """
    counts: Counter[tuple[str, str, str]] = Counter()
    # Events evaluated by the same engine share its rules tuple: count per tuple.
    evaluated: dict[int, tuple[tuple[Rule, ...], int]] = {}
    for evaluation in evaluations:
        rules, n = evaluated.get(id(evaluation.rules), (evaluation.rules, 0))
        evaluated[id(rules)] = (rules, n + 1)
        if not evaluation.fired and not evaluation.errors:
            continue
        held = {h.rule_id for h in evaluation.suppressed}
        for rule in evaluation.fired:
            status = "suppressed" if rule.id in held else "hit"
            counts[(rule.id, rule.mode, status)] += 1
        for outcome in evaluation.errors:
            counts[(outcome.rule.id, outcome.rule.mode, "error")] += 1
    for rules, n in evaluated.values():
        for rule in rules:
            decided = sum(counts[(rule.id, rule.mode, s)] for s in ("hit", "suppressed", "error"))
            if n > decided:
                counts[(rule.id, rule.mode, "no_hit")] += n - decided
    return counts


def _error_code(exc: Exception) -> str:
    if isinstance(exc, KeyError | NameError):
        return "missing_feature"
    if isinstance(exc, ZeroDivisionError):
        return "division_by_zero"
    if isinstance(exc, TypeError):
        return "type_error"
    return "error"


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"feature {exc.args[0]!r} is missing"
    return f"{type(exc).__name__}: {exc}"


class RuleEngine:
    """Evaluates every non-off rule of its packs, in pack order."""

    def __init__(self, packs: Sequence[RulePack]) -> None:
        self.packs = tuple(packs)
        self._rules = tuple(rule for pack in self.packs for rule in pack.live_rules)
        # Every pack's live rules in one function: one call per event, whatever the packs.
        self._evaluate = fold(
            [(rule.when, pack.params) for pack in self.packs for rule in pack.live_rules]
        )
        self._version = ",".join(pack.label for pack in self.packs)
        # A rule failing on every event would flood the log: warn once per rule
        # and error code, then log at DEBUG; the metric counts every failure.
        self._warned: set[tuple[str, str]] = set()
        # What a hit records of each rule: its params' values (fixed) and the
        # names of the features to read, worked out once rather than per hit.
        self._hit_parts = {
            rule.id: _hit_parts(rule, pack.params) for pack in self.packs for rule in pack.rules
        }
        # Most events fire nothing: they share one immutable evaluation.
        self._quiet = Evaluation(self._rules, (), (), pack_version=self._version)

    @property
    def version(self) -> str:
        """The packs and versions in force, recorded on every alert."""
        return self._version

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules evaluated on every event (all but those ``off``)."""
        return self._rules

    def _hit(self, rule: Rule, features: Mapping[str, Any]) -> RuleHit:
        fixed, names = self._hit_parts[rule.id]
        values = {**fixed, **{name: features.get(name) for name in names}}
        return RuleHit(
            rule_id=rule.id,
            version=rule.version,
            score=rule.score,
            severity=rule.severity,
            typology=rule.typology,
            description=rule.description,
            values=values,
            suppress_seconds=rule.suppress_seconds,
        )

    def evaluate(self, features: Mapping[str, Any]) -> Evaluation:
        indexes, failures = self._evaluate(features)
        if not indexes and not failures:
            return self._quiet
        hits: list[RuleHit] = []
        shadow: list[RuleHit] = []
        fired: list[Rule] = []
        errors: list[RuleOutcome] = []
        for index in indexes:
            rule = self._rules[index]
            fired.append(rule)
            hit = self._hit(rule, features)
            (shadow if rule.mode == "shadow" else hits).append(hit)
        for index, exc in failures or ():
            rule = self._rules[index]
            code = _error_code(exc)
            errors.append(RuleOutcome(rule, "error", code, _describe(exc)))
            level = logging.DEBUG if (rule.id, code) in self._warned else logging.WARNING
            self._warned.add((rule.id, code))
            logger.log(level, "rule %s v%d failed (%s): %s", rule.id, rule.version, code, exc)
        return Evaluation(
            rules=self._rules,
            hits=tuple(hits),
            shadow_hits=tuple(shadow),
            errors=tuple(errors),
            pack_version=self._version,
            fired=tuple(fired),
        )


def _hit_parts(rule: Rule, params: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    fixed = {
        name: list(params[name]) if isinstance(params[name], tuple) else params[name]
        for name in rule.when.names
        if name in params
    }
    return fixed, tuple(name for name in rule.when.names if name not in params)
