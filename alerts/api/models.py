"""Request bodies and query parameters of the API, validated before any work.

Free text refuses NUL characters (PostgreSQL cannot store them) and is
length-capped; ids are capped to what both databases hold.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from alerts.queue import SORTS
from alerts.schema import CASE_STATUSES, ROLES, SEVERITIES
from riskwatch.contracts import CHANNELS

_NO_NUL = r"^[^\x00]*$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=10_000, pattern=_NO_NUL)]
Narrative = Annotated[str, StringConstraints(min_length=1, max_length=20_000, pattern=_NO_NUL)]
MAX_ID = 2**53

Status = Literal[CASE_STATUSES]  # type: ignore[valid-type]
Severity = Literal[SEVERITIES]  # type: ignore[valid-type]
Channel = Literal[CHANNELS]  # type: ignore[valid-type]
Sort = Literal[SORTS]  # type: ignore[valid-type]
Role = Literal[ROLES]  # type: ignore[valid-type]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssignBody(_Body):
    assignee: Name


class MoveBody(_Body):
    status: Literal["investigating", "escalated"]


class CloseBody(_Body):
    resolution: Literal["confirmed_fraud", "false_positive"]


class CommentBody(_Body):
    body: Text


class StrPrepareBody(_Body):
    narrative: Narrative


class NewUserBody(_Body):
    username: Name
    role: Role


class NewUser(BaseModel):
    username: str
    role: str
    token: str = Field(description="shown once; only its hash is kept")


class QueueParams(BaseModel):
    """The queue's filters and sort, as query parameters."""

    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    open_only: bool = False
    severity: Severity | None = None
    min_score: float | None = Field(None, ge=0, le=100)
    max_score: float | None = Field(None, ge=0, le=100)
    channel: Channel | None = None
    typology: Name | None = None
    assignee: Name | None = None
    min_age_hours: float | None = Field(None, ge=0, le=24 * 366 * 10)
    max_age_hours: float | None = Field(None, ge=0, le=24 * 366 * 10)
    breached: bool | None = None
    sort: Sort = "-score"
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=1_000_000)
