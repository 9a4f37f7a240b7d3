"""The case store's own exceptions.

Callers (the alert sink in ``flows/``, the CLI, the HTTP API) catch these and
never SQLAlchemy's or a driver's: the store translates at its boundary, so
swapping SQLite for PostgreSQL changes no caller's ``except`` clause.

Errors::

    CaseStoreError
     ├── CaseStoreUnavailable   the database cannot be opened or reached; a retry may help
     ├── MigrationError         the schema could not be brought up to date
     ├── CaseNotFound           no case has the id asked for (also a KeyError)
     └── InvalidAlert           an alert the store refuses to keep (also a ValueError)
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
