"""Rules folded into one Python function, so 30 rules cost microseconds.

Evaluating each rule's code object with :func:`eval` costs about a
microsecond of call overhead per rule before the rule does any work. Here
the checked syntax trees of all the rules in force (of every pack) become
the body of one function, which reads features straight from the event's
dict and has each pack's params inlined as constants::

    def evaluate(f):
        hits = []
        errors = None
        try:
            if f["kind"] == "purchase" and f["amount"] >= 2000:  # rule 0
                hits.append(0)
        except Exception as e:
            errors = (errors or []) + [(0, e)]
        ...
        return hits, errors

Each rule keeps its own ``try``, so one rule failing on one event (a feature
missing, a division by zero) leaves the others to run; ``try`` costs nothing
on CPython 3.11 until something raises. Only trees that
:func:`rules.expressions.compile_expression` has already checked against the
whitelist are folded in, so the function can do nothing a rule could not.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rules.expressions import FUNCTIONS, CompiledExpression

#: What the folded function returns: the indexes of the rules that fired, and
#: the (index, exception) of those that failed, or None when none did.
PackResult = tuple[list[int], list[tuple[int, Exception]] | None]

_FEATURES = "_f"


class _Inline(ast.NodeTransformer):
    """Params become constants, every other name a lookup in the feature dict."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self._params = params

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in FUNCTIONS:
            return node
        if node.id in self._params:
            value = self._params[node.id]
            # A list param is tested with `in`: a frozenset makes that one hash lookup.
            if isinstance(value, tuple):
                value = frozenset(value)
            return ast.copy_location(ast.Constant(value), node)
        lookup = ast.Subscript(
            value=ast.Name(_FEATURES, ast.Load()), slice=ast.Constant(node.id), ctx=ast.Load()
        )
        return ast.copy_location(lookup, node)


def _rule_block(index: int, test: ast.expr) -> ast.Try:
    template = f"""
try:
    if TEST:
        _hits.append({index})
except _Exception as _e:
    if _errors is None:
        _errors = []
    _errors.append(({index}, _e))
"""
    block = ast.parse(template).body[0]
    assert isinstance(block, ast.Try)
    condition = block.body[0]
    assert isinstance(condition, ast.If)
    condition.test = test
    return block


def fold(
    expressions: Sequence[tuple[CompiledExpression, Mapping[str, Any]]],
) -> Callable[[Mapping[str, Any]], PackResult]:
    """One function evaluating every expression, with its own params, over a feature dict.

    The expressions may come from several packs, each with its pack's params.
    """
    function = ast.parse(f"def _evaluate({_FEATURES}):\n    _hits = []\n    _errors = None\n")
    body = function.body[0]
    assert isinstance(body, ast.FunctionDef)
    for index, (expression, params) in enumerate(expressions):
        test = _Inline(params).visit(copy.deepcopy(expression.tree)).body
        body.body.append(_rule_block(index, test))
    body.body.append(ast.parse("return _hits, _errors").body[0])
    module = ast.fix_missing_locations(function)
    code = compile(module, "<rule pack>", "exec")
    namespace: dict[str, Any] = {"__builtins__": {}, "_Exception": Exception, **FUNCTIONS}
    # Safe only because every folded tree passed compile_expression's whitelist.
    exec(code, namespace)
    return namespace["_evaluate"]
