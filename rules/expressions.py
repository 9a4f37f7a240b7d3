"""A small, safe expression language for rules, compiled once at load.

Analysts write Python-like expressions over a transaction's fields and
features (``amount >= 10000 and channel in ["mobile", "online"]``). An
expression is parsed with :mod:`ast`, every node is checked against a
whitelist, every name against the known vocabulary, and only then compiled
to a code object that is evaluated with no builtins. Attribute access,
subscripts, lambdas, comprehensions, imports, dunder names and calls to
anything but the named functions are rejected before a rule can load.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import CodeType
from typing import Any

from rules.errors import ExpressionError


def _between(value: float, low: float, high: float) -> bool:
    """``low <= value <= high``."""
    return low <= value <= high


def _between_hours(hour: float, start: float, end: float) -> bool:
    """Whether an hour lies in ``[start, end)``, wrapping midnight (``22, 6`` is the night)."""
    if start <= end:
        return start <= hour < end
    return hour >= start or hour < end


def _is_round_amount(amount: float, unit: float = 1000) -> bool:
    """True for amounts that are whole multiples of ``unit`` (e.g. 50,000.00)."""
    return amount > 0 and math.isclose(amount % unit, 0.0, abs_tol=1e-6)


def _hour_of_day(epoch_seconds: float, utc_offset_hours: float = 0) -> int:
    """The hour (0-23) of an epoch timestamp at a fixed offset from UTC."""
    return int((epoch_seconds + utc_offset_hours * 3600) // 3600 % 24)


def _days_between(first_seconds: float, second_seconds: float) -> float:
    """Days between two epoch timestamps (or two durations), never negative."""
    return abs(second_seconds - first_seconds) / 86400


def _days(seconds: float) -> float:
    """A duration in seconds (``seconds_since_last``) as days."""
    return seconds / 86400


def _hours(seconds: float) -> float:
    """A duration in seconds as hours."""
    return seconds / 3600


def _ratio(numerator: float, denominator: float, otherwise: float = 0.0) -> float:
    """``numerator / denominator``, or ``otherwise`` when the denominator is 0."""
    return numerator / denominator if denominator else otherwise


#: The functions an expression may call.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "log1p": math.log1p,
    "between": _between,
    "between_hours": _between_hours,
    "is_round_amount": _is_round_amount,
    "hour_of_day": _hour_of_day,
    "days_between": _days_between,
    "days": _days,
    "hours": _hours,
    "ratio": _ratio,
}

#: How many arguments each function takes (fewest, most; None: no limit), checked at load.
ARITY: dict[str, tuple[int, int | None]] = {
    "abs": (1, 1),
    "min": (2, None),
    "max": (2, None),
    "round": (1, 2),
    "log1p": (1, 1),
    "between": (3, 3),
    "between_hours": (3, 3),
    "is_round_amount": (1, 2),
    "hour_of_day": (1, 2),
    "days_between": (2, 2),
    "days": (1, 1),
    "hours": (1, 1),
    "ratio": (2, 3),
}

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.IfExp,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Call,
)

_NODE_NAMES = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripts",
    ast.Lambda: "lambdas",
    ast.ListComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.NamedExpr: "assignment",
    ast.Pow: "the power operator",
    ast.Dict: "dict literals",
    ast.Set: "set literals",
    ast.JoinedStr: "f-strings",
    ast.Starred: "star arguments",
    ast.keyword: "keyword arguments",
    ast.Await: "await",
    ast.Yield: "yield",
}


@dataclass(frozen=True, slots=True)
class CompiledExpression:
    """An expression checked and compiled, with the names it reads."""

    source: str
    code: CodeType
    names: tuple[str, ...]
    tree: ast.Expression
    """The checked syntax tree, which :mod:`rules.compiled` folds into a pack's function."""

    def evaluate(self, namespace: Mapping[str, Any]) -> Any:
        """Evaluate over a namespace of features; raises what the expression raises."""
        # Safe only because compile_expression whitelisted every node of the tree.
        return eval(self.code, {"__builtins__": {}, **FUNCTIONS}, namespace)


def _fail(node: ast.AST, message: str) -> ExpressionError:
    return ExpressionError(message, getattr(node, "col_offset", 0) + 1)


#: Longer expressions are refused: a rule is a sentence, not a program.
MAX_EXPRESSION_LENGTH = 2000
_SEQUENCE_NODES = (ast.List, ast.Tuple, ast.JoinedStr)


def _may_be_text(node: ast.AST, text_names: frozenset[str]) -> bool:
    """Whether a node can evaluate to text or a list, which ``*`` or ``%`` would blow up."""
    if isinstance(node, _SEQUENCE_NODES):
        return True
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str | bytes)
    if isinstance(node, ast.Name):
        return node.id in text_names
    if isinstance(node, ast.BinOp):
        return _may_be_text(node.left, text_names) or _may_be_text(node.right, text_names)
    if isinstance(node, ast.IfExp):
        return _may_be_text(node.body, text_names) or _may_be_text(node.orelse, text_names)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id in ("min", "max") and any(
            _may_be_text(arg, text_names) for arg in node.args
        )
    return False


def _check(tree: ast.AST, vocabulary: frozenset[str], text_names: frozenset[str]) -> list[str]:
    names: list[str] = []
    # First the shapes, so that the message names the construct (a lambda, an
    # attribute) rather than whatever encloses it.
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            what = _NODE_NAMES.get(type(node), type(node).__name__)
            raise _fail(node, f"{what} is not allowed in a rule expression")
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id.startswith("_"):
                raise _fail(node, f"name {node.id!r} is not allowed (leading underscore)")
            if node.id not in vocabulary and node.id not in FUNCTIONS:
                raise _fail(node, f"unknown name {node.id!r}")
            if node.id not in FUNCTIONS and node.id not in names:
                names.append(node.id)
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id.startswith("_"):
                raise _fail(node, f"name {node.func.id!r} is not allowed (leading underscore)")
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                allowed = ", ".join(sorted(FUNCTIONS))
                raise _fail(node, f"only these functions may be called: {allowed}")
            if node.keywords:
                raise _fail(node, "keyword arguments are not allowed")
            fewest, most = ARITY[node.func.id]
            given = len(node.args)
            if given < fewest or (most is not None and given > most):
                if most is None:
                    wanted = f"at least {fewest}"
                else:
                    wanted = f"{fewest}" if fewest == most else f"{fewest} to {most}"
                msg = f"{node.func.id}() takes {wanted} arguments, got {given}"
                raise _fail(node, msg)
        elif (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Mult | ast.Mod | ast.FloorDiv)
            and (_may_be_text(node.left, text_names) or _may_be_text(node.right, text_names))
        ):
            # 'a' * 10**9 or '%0*d' % (...) would exhaust memory on every event.
            raise _fail(node, "repeating or formatting text or lists is not allowed")
        elif isinstance(node, ast.Constant) and not isinstance(
            node.value, str | int | float | bool | type(None)
        ):
            raise _fail(node, f"constant {node.value!r} is not allowed")
    return names


def compile_expression(
    source: str, vocabulary: Iterable[str], text_names: Iterable[str] = ()
) -> CompiledExpression:
    """Check and compile an expression; raise :class:`ExpressionError` if it is unsafe.

    ``text_names`` are the names that hold text (``city``, a text param): they
    may be compared but not repeated or formatted.

    >>> expr = compile_expression("amount >= 100 and channel in ['atm']", {"amount", "channel"})
    >>> expr.evaluate({"amount": 150.0, "channel": "atm"})
    True
    >>> compile_expression("amount.__class__", {"amount"})
    Traceback (most recent call last):
    ...
    rules.errors.ExpressionError: column 1: attribute access is not allowed in a rule expression
    """
    text = " ".join(source.split())
    if len(text) > MAX_EXPRESSION_LENGTH:
        msg = f"expression is {len(text)} characters long; the limit is {MAX_EXPRESSION_LENGTH}"
        raise ExpressionError(msg, 1)
    try:
        tree = ast.parse(text, mode="eval")
        names = _check(tree, frozenset(vocabulary), frozenset(text_names))
        code = compile(tree, "<rule>", "eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error: {exc.msg}", exc.offset or 0) from None
    except (RecursionError, MemoryError):
        raise ExpressionError("expression is nested too deeply", 1) from None
    return CompiledExpression(source=text, code=code, names=tuple(names), tree=tree)
