"""Rule packs: versioned YAML files of rules, loaded whole or not at all.

A pack names itself and its version, may declare ``params`` (named
constants such as the large-cash reporting threshold, which expressions
use by name, so compliance can change a threshold without touching an
expression), and lists rules::

    pack: foundation
    version: 1
    params:
      large_transfer: 10000
    rules:
      - id: large_transfer_out
        version: 1
        description: A large transfer out on a digital channel
        typology: account_takeover
        severity: high
        score: 60
        entity: customer
        mode: active            # active | shadow | off
        suppress: 24h           # optional: quiet for this entity this long after firing
        when: kind == "transfer_out" and amount >= large_transfer

Every error names the file, the rule id and the line (and, inside an
expression, the column), and a pack with any error loads nothing.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from rules.compiled import PackResult, fold
from rules.errors import ExpressionError, PackError
from rules.expressions import CompiledExpression, compile_expression

MODES = ("active", "shadow", "off")
SEVERITIES = ("low", "medium", "high", "critical")
ENTITIES = ("customer", "card", "merchant", "terminal", "device", "counterparty")
_RULE_KEYS = frozenset(
    {
        "id",
        "version",
        "description",
        "typology",
        "severity",
        "score",
        "entity",
        "mode",
        "suppress",
        "when",
    }
)
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PACK_KEYS = frozenset({"pack", "version", "description", "params", "rules"})


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule."""

    id: str
    version: int
    description: str
    typology: str
    severity: str
    score: float
    entity: str
    mode: str
    when: CompiledExpression
    suppress_seconds: int | None = None
    """After firing for an entity, stay quiet for that entity this long (event time)."""


@dataclass(frozen=True, slots=True)
class RulePack:
    """A loaded pack: its rules compiled, its params resolved."""

    name: str
    version: int
    source: str
    params: dict[str, Any]
    rules: tuple[Rule, ...]
    live_rules: tuple[Rule, ...]
    """The rules not ``off``, in order: what :attr:`evaluate` reports on, by index."""
    evaluate: Callable[[Mapping[str, Any]], PackResult]
    """All live rules over one feature dict (see :mod:`rules.compiled`)."""

    @property
    def label(self) -> str:
        """What alerts record as the pack version, e.g. ``foundation@1``."""
        return f"{self.name}@{self.version}"


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers on which line each mapping value starts."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    lines = {}
    for key_node, value_node in node.value:
        lines[key_node.value] = value_node.start_mark.line + 1
    mapping["__lines__"] = lines
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _where(source: str, line: int, rule_id: str | None = None) -> str:
    return f"{source}:{line}" + (f": rule {rule_id!r}" if rule_id else "")


def _require(mapping: dict[str, Any], name: str, kind: type, source: str, rule: str | None) -> Any:
    value = mapping.get(name)
    line = mapping["__lines__"].get(name, mapping["__line__"])
    if value is None:
        raise PackError(f"{_where(source, mapping['__line__'], rule)}: missing {name!r}")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        msg = f"{_where(source, line, rule)}: {name!r} must be {kind.__name__}, got {value!r}"
        raise PackError(msg)
    return value


def _choice(mapping: dict[str, Any], name: str, options: tuple[str, ...], source: str, rule: str):
    value = _require(mapping, name, str, source, rule)
    if value not in options:
        line = mapping["__lines__"][name]
        msg = f"{_where(source, line, rule)}: {name} {value!r} is not one of {', '.join(options)}"
        raise PackError(msg)
    return value


def parse_duration(value: Any) -> int:
    """Seconds in a duration written as ``90``, ``30m``, ``24h`` or ``7d``.

    >>> [parse_duration(v) for v in (90, "30m", "24h", "7d")]
    [90, 1800, 86400, 604800]
    """
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value[:-1].isdigit() and value[-1:] in _DURATION_UNITS:
        seconds = int(value[:-1]) * _DURATION_UNITS[value[-1]]
        if seconds > 0:
            return seconds
    msg = f"a duration must be positive seconds or a number with s, m, h or d, got {value!r}"
    raise ValueError(msg)


def _suppress_seconds(raw: dict[str, Any], source: str, rule_id: str) -> int | None:
    if raw.get("suppress") is None:
        return None
    try:
        return parse_duration(raw["suppress"])
    except ValueError as exc:
        line = raw["__lines__"]["suppress"]
        raise PackError(f"{_where(source, line, rule_id)}: suppress: {exc}") from None


def _load_rule(
    raw: Any, source: str, vocabulary: frozenset[str], text_names: frozenset[str], seen: set[str]
) -> Rule:
    if not isinstance(raw, dict):
        raise PackError(f"{source}: each rule must be a mapping, got {raw!r}")
    rule_id = _require(raw, "id", str, source, None)
    unknown = set(raw) - _RULE_KEYS - {"__lines__", "__line__"}
    if unknown:
        line = raw["__lines__"][sorted(unknown)[0]]
        msg = f"{_where(source, line, rule_id)}: unknown keys {', '.join(sorted(unknown))}"
        raise PackError(msg)
    if rule_id in seen:
        raise PackError(f"{_where(source, raw['__line__'], rule_id)}: duplicate rule id")
    seen.add(rule_id)
    score = _require(raw, "score", float, source, rule_id)
    if not 0 <= score <= 100:
        line = raw["__lines__"]["score"]
        raise PackError(f"{_where(source, line, rule_id)}: score must lie in 0..100, got {score}")
    version = _require(raw, "version", int, source, rule_id)
    if raw.get("mode") is False:
        # YAML 1.1 reads a bare `off` as false; the analyst meant the mode.
        raw["mode"] = "off"
    when_text = _require(raw, "when", str, source, rule_id)
    try:
        when = compile_expression(when_text, vocabulary, text_names)
    except ExpressionError as exc:
        line = raw["__lines__"]["when"]
        msg = f"{_where(source, line, rule_id)}: in 'when', {exc}"
        raise PackError(msg) from None
    return Rule(
        id=rule_id,
        version=version,
        description=_require(raw, "description", str, source, rule_id).strip(),
        typology=_require(raw, "typology", str, source, rule_id),
        severity=_choice(raw, "severity", SEVERITIES, source, rule_id),
        score=score,
        entity=_choice(raw, "entity", ENTITIES, source, rule_id),
        mode=_choice(raw, "mode", MODES, source, rule_id),
        when=when,
        suppress_seconds=_suppress_seconds(raw, source, rule_id),
    )


def _scalar(value: Any) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool)


def _override(params: dict[str, Any], overrides: Mapping[str, Any], source: str) -> None:
    """Replace params by the configured values of the same shape (number, text or list)."""
    for key, value in overrides.items():
        if key not in params:
            continue
        old = params[key]
        if isinstance(value, list):
            value = tuple(value)
        same = (
            (isinstance(old, tuple) and isinstance(value, tuple) and all(map(_scalar, value)))
            or (isinstance(old, str) and isinstance(value, str))
            or (_number(old) and _number(value))
        )
        if not same:
            msg = f"{source}: param {key!r} is {old!r}; the configured {value!r} is not alike"
            raise PackError(msg)
        params[key] = value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_pack(
    text: str,
    source: str,
    vocabulary: Iterable[str],
    text_names: Iterable[str] = (),
    overrides: Mapping[str, Any] | None = None,
) -> RulePack:
    """Load a pack from YAML text.

    ``vocabulary`` is the feature names rules may use, ``text_names`` those of
    them that hold text; the pack's own text and list params are added to both.
    ``overrides`` replace the values of params the pack declares (the
    configured reporting threshold, say); names it does not declare are ignored.
    """
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # a SafeLoader: no object tags
    except yaml.YAMLError as exc:
        raise PackError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise PackError(f"{source}: a rule pack must be a mapping with 'pack' and 'rules'")
    unknown = set(doc) - _PACK_KEYS - {"__lines__", "__line__"}
    if unknown:
        raise PackError(f"{source}: unknown keys {', '.join(sorted(unknown))}")
    name = _require(doc, "pack", str, source, None)
    version = _require(doc, "version", int, source, None)
    params_raw = doc.get("params") or {}
    params = {k: v for k, v in params_raw.items() if not k.startswith("__")}
    for key, value in params.items():
        if not _scalar(value) and not (isinstance(value, list) and all(map(_scalar, value))):
            line = params_raw["__lines__"][key]
            msg = f"{source}:{line}: param {key!r} must be a number, text, or a list of them"
            raise PackError(msg)
        if isinstance(value, list):
            params[key] = tuple(value)
    _override(params, overrides or {}, source)
    rules_raw = _require(doc, "rules", list, source, None)
    names = frozenset(vocabulary) | frozenset(params)
    seen: set[str] = set()
    texts = frozenset(text_names) | {k for k, v in params.items() if isinstance(v, str | tuple)}
    rules = tuple(_load_rule(raw, source, names, texts, seen) for raw in rules_raw)
    live = tuple(rule for rule in rules if rule.mode != "off")
    try:
        evaluate = fold([(rule.when, params) for rule in live])
    except (SyntaxError, ValueError, TypeError, RecursionError) as exc:
        raise PackError(f"{source}: the pack's rules do not compile together: {exc}") from None
    return RulePack(
        name=name,
        version=version,
        source=source,
        params=params,
        rules=rules,
        live_rules=live,
        evaluate=evaluate,
    )


def pack_path(name_or_path: str) -> Path | Traversable:
    """Where a pack named by ``rule_packs`` lives: a file path, or a shipped pack's name."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    resource = importlib.resources.files("rules") / "packs" / f"{name_or_path}.yaml"
    if not resource.is_file():
        raise PackError(f"no shipped rule pack named {name_or_path!r} and no such file")
    return resource


def load_pack(
    name_or_path: str,
    vocabulary: Iterable[str],
    text_names: Iterable[str] = (),
    overrides: Mapping[str, Any] | None = None,
) -> RulePack:
    """Load a shipped pack by name (``foundation``) or any pack by file path."""
    where = pack_path(name_or_path)
    source = str(where) if isinstance(where, Path) else f"packs/{name_or_path}.yaml"
    try:
        text = where.read_text(encoding="utf-8")
    except OSError as exc:
        raise PackError(f"{source}: cannot read rule pack: {exc}") from None
    return parse_pack(text, source, vocabulary, text_names, overrides)


def load_packs(
    names: Sequence[str],
    vocabulary: Iterable[str],
    text_names: Iterable[str] = (),
    overrides: Mapping[str, Any] | None = None,
    check_overrides: bool = True,
) -> tuple[RulePack, ...]:
    """Load several packs, all or none: rule ids must be unique across them, and
    every override must name a param some pack declares (a typo must not pass).

    ``check_overrides=False`` skips the last check, for loading one pack out of
    the configured set (the overrides may be meant for the others).
    """
    vocabulary = frozenset(vocabulary)
    packs = tuple(load_pack(name, vocabulary, text_names, overrides) for name in names)
    declared = {key for pack in packs for key in pack.params}
    unknown = sorted(set(overrides or {}) - declared)
    if unknown and check_overrides:
        msg = f"rule param overrides name no param of the packs {list(names)}: {unknown}"
        raise PackError(msg)
    seen: dict[str, str] = {}
    for pack in packs:
        for rule in pack.rules:
            if rule.id in seen:
                msg = f"{pack.source}: rule {rule.id!r} is also in {seen[rule.id]}"
                raise PackError(msg)
            seen[rule.id] = pack.source
    return packs
