"""The rule engine's errors.

::

    RuleError
     ├── ExpressionError          an expression is unsafe or malformed (with its column)
     ├── PackError                a pack cannot load: file, rule id, line and column named
     ├── SuppressionUnavailable   Redis refused a batch's suppression check
     └── BacktestError            a backtest's traffic or labels cannot be read
"""

from __future__ import annotations


class RuleError(Exception):
    """Something is wrong with a rule or a rule pack."""


class ExpressionError(RuleError):
    """A rule expression is not allowed or does not parse."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.message = message
        self.column = column


class PackError(RuleError):
    """A rule pack failed to load; nothing of it was loaded."""


class SuppressionUnavailable(RuleError):
    """Redis could not be reached or refused a batch's suppression check."""


class BacktestError(RuleError):
    """The backtest's input cannot be read."""
