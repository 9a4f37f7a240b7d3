"""The case workflow: which status may follow which, as data.

::

    new ──assign──► assigned ──► investigating ──► escalated
     │                 │  ▲            │               │
     │                 │  └─(reassign)─┘               │
     └─────────────────┴──────────► closed ◄───────────┘

A case is assigned by :meth:`alerts.actions.CaseActions.assign` (in any open
status; only ``new`` becomes ``assigned``). It is closed with a resolution:
an analyst's disposition (``confirmed_fraud``, ``false_positive``) from any
open status, or ``str_filed`` from ``escalated`` once a second compliance user
has approved the STR (four-eyes). A closed case stays closed.

>>> allowed_moves("assigned")
('investigating', 'escalated', 'closed')
>>> check_move(7, "closed", "escalated")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
alerts.errors.InvalidAction: case 7 is closed; it cannot move to escalated (closed cases ...
"""

from __future__ import annotations

from alerts.errors import InvalidAction
from alerts.schema import CLOSED_STATUS, RESOLUTIONS

#: Status moves other than assignment, from each status.
MOVES: dict[str, tuple[str, ...]] = {
    "new": ("closed",),
    "assigned": ("investigating", "escalated", "closed"),
    "investigating": ("escalated", "closed"),
    "escalated": ("closed",),
    "closed": (),
}
#: Resolutions an analyst may close with directly; ``str_filed`` needs the STR steps.
DISPOSITIONS: tuple[str, ...] = tuple(r for r in RESOLUTIONS if r != "str_filed")
#: The label each resolution sends to the labels stream.
LABEL_FOR_RESOLUTION: dict[str, str] = {
    "confirmed_fraud": "fraud",
    "false_positive": "legit",
    "str_filed": "suspicious",
}


def allowed_moves(status: str) -> tuple[str, ...]:
    return MOVES[status]


def check_move(case_id: int, status: str, target: str) -> None:
    """Raise :class:`InvalidAction` unless ``status`` may move to ``target``."""
    if target in MOVES[status]:
        return
    if status == CLOSED_STATUS:
        reason = "closed cases are final"
    else:
        reason = f"from {status} it can move to {', '.join(MOVES[status])}"
        if target == "investigating":
            reason += "; assign it first"
    msg = f"case {case_id} is {status}; it cannot move to {target} ({reason})"
    raise InvalidAction(msg)


def check_open(case_id: int, status: str, action: str) -> None:
    if status == CLOSED_STATUS:
        msg = f"case {case_id} is closed; it cannot be {action} (closed cases are final)"
        raise InvalidAction(msg)
