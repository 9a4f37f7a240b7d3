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
    return low <= value <= high


def _is_round_amount(amount: float, unit: float = 1000) -> bool:
    """True for amounts that are whole multiples of ``unit`` (e.g. 50,000.00)."""
    return amount > 0 and math.isclose(amount % unit, 0.0, abs_tol=1e-6)


#: The functions an expression may call.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "log1p": math.log1p,
    "between": _between,
    "is_round_amount": _is_round_amount,
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
    return CompiledExpression(source=text, code=code, names=tuple(names))
