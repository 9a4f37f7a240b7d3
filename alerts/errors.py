"""The case store's own exceptions.

Callers (the alert sink in ``flows/``, the CLI, the HTTP API) catch these and
never SQLAlchemy's or a driver's: the store translates at its boundary, so
swapping SQLite for PostgreSQL changes no caller's ``except`` clause.

Errors::

    CaseStoreError
     ├── CaseStoreUnavailable   the database cannot be opened or reached; a retry may help
     ├── MigrationError         the schema could not be brought up to date
     ├── CaseNotFound           no case has the id asked for (also a KeyError)
     ├── AlertNotFound          no alert has the id asked for (also a KeyError)
     ├── InvalidAlert           an alert the store refuses to keep (also a ValueError)
     ├── InvalidAction          an action the case's state does not allow (HTTP 409)
     │    └── FourEyesViolation the STR's preparer tried to approve it too
     └── LabelDeliveryFailed    the labels stream did not take a label; it stays in the outbox
"""

from __future__ import annotations


class CaseStoreError(Exception):
    """Anything that went wrong in the case store."""


class CaseStoreUnavailable(CaseStoreError):
    """The database could not be opened or reached.

    Kept apart from other failures because it is the one a caller may retry:
    a PostgreSQL restart or a locked SQLite file passes, a bad statement does not.
    """


class MigrationError(CaseStoreError):
    """Upgrading the schema to the newest migration failed."""


class CaseNotFound(CaseStoreError, KeyError):
    """No case has the given id."""

    def __init__(self, case_id: int) -> None:
        self.case_id = case_id
        super().__init__(f"no case with id {case_id}")

    def __str__(self) -> str:
        # KeyError would repr() the message; an error about a case should read plainly.
        return str(self.args[0])


class InvalidAlert(CaseStoreError, ValueError):
    """An alert breaks a rule the store relies on (an aware time, a known severity).

    Raised before anything is written, naming the alert, so that one bad alert
    is found in the batch rather than surfacing as a constraint violation.
    """


class AlertNotFound(CaseStoreError, KeyError):
    """No alert has the given id."""

    def __init__(self, alert_id: str) -> None:
        self.alert_id = alert_id
        super().__init__(f"no alert with id {alert_id}")

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidAction(CaseStoreError):
    """The case's state does not allow this action (closing a closed case, filing an
    unapproved STR); the message says what the state is and what is allowed."""


class FourEyesViolation(InvalidAction):
    """The compliance user who prepared an STR cannot also approve it."""


class LabelDeliveryFailed(CaseStoreError):
    """The labels stream (Kafka or the labels file) did not take a label.

    The label stays in the outbox and is sent on the next flush.
    """
