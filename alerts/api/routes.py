"""The JSON API under ``/api/v1``: the queue, case and alert detail, the actions.

Each route names the roles it admits (:mod:`alerts.api.auth`). Errors come
back as ``{"detail": message}``: 401/403 for who you are, 404 for an unknown
case or alert, 409 for an action the case's state does not allow (with the
moves it does), 422 for a malformed request, 503 when the database is down.
"""

from __future__ import annotations

import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query
from fastapi.responses import PlainTextResponse

from alerts import audit
from alerts.api.auth import (
    ADMIN,
    ANY_ROLE,
    AUDITORS,
    CASE_WORKERS,
    COMPLIANCE,
    desk_of,
    require,
)
from alerts.api.models import (
    MAX_ID,
    AssignBody,
    CloseBody,
    CommentBody,
    MoveBody,
    NewUser,
    NewUserBody,
    QueueParams,
    StrPrepareBody,
)
from alerts.desk import CaseDesk
from alerts.queue import QueueQuery
from alerts.str_report import build_str, write_str_csv, write_str_json
from alerts.users import User

router = APIRouter(prefix="/api/v1")

CaseId = Annotated[int, Path(ge=1, le=MAX_ID, description="the case's id")]
Desk = Annotated[CaseDesk, Depends(desk_of)]


# The user making the request, admitted only with one of the named roles.
Reader = Annotated[User, Depends(require(*ANY_ROLE))]
CaseWorker = Annotated[User, Depends(require(*CASE_WORKERS))]
Compliance = Annotated[User, Depends(require(*COMPLIANCE))]
Auditor = Annotated[User, Depends(require(*AUDITORS))]
Admin = Annotated[User, Depends(require(*ADMIN))]


@router.get("/cases", tags=["queue"], summary="The case queue, filtered and sorted")
def queue(
    desk: Desk,
    params: Annotated[QueueParams, Query()],
    user: Reader,
) -> list[dict[str, Any]]:
    return desk.casefile.queue(QueueQuery(**params.model_dump()))


@router.get("/cases/{case_id}", tags=["cases"], summary="A case with its alerts and comments")
def case_detail(case_id: CaseId, desk: Desk, user: Reader) -> dict[str, Any]:
    return desk.casefile.case(case_id)


@router.get("/alerts/{alert_id}", tags=["cases"], summary="An alert with its explanation")
def alert_detail(
    alert_id: Annotated[str, Path(min_length=1, max_length=300)],
    desk: Desk,
    user: Reader,
) -> dict[str, Any]:
    return desk.casefile.alert(alert_id)


@router.post("/cases/{case_id}/assign", tags=["actions"])
def assign(case_id: CaseId, body: AssignBody, desk: Desk, user: CaseWorker) -> dict[str, Any]:
    return desk.actions.assign(case_id, body.assignee, actor=user.username)


@router.post("/cases/{case_id}/status", tags=["actions"], summary="Investigate or escalate")
def move(case_id: CaseId, body: MoveBody, desk: Desk, user: CaseWorker) -> dict[str, Any]:
    return desk.actions.move(case_id, body.status, actor=user.username)


@router.post("/cases/{case_id}/close", tags=["actions"], summary="Dispose: fraud or not")
def close(
    case_id: CaseId,
    body: CloseBody,
    desk: Desk,
    background: BackgroundTasks,
    user: CaseWorker,
) -> dict[str, Any]:
    closed = desk.actions.close(case_id, body.resolution, actor=user.username)
    background.add_task(desk.outbox.flush)
    return closed


@router.post("/cases/{case_id}/comments", tags=["actions"])
def comment(case_id: CaseId, body: CommentBody, desk: Desk, user: CaseWorker) -> dict[str, Any]:
    return desk.actions.comment(case_id, body.body, actor=user.username)


@router.post("/cases/{case_id}/str/prepare", tags=["str"])
def str_prepare(
    case_id: CaseId, body: StrPrepareBody, desk: Desk, user: Compliance
) -> dict[str, Any]:
    return desk.actions.prepare_str(case_id, body.narrative, actor=user.username)


@router.post("/cases/{case_id}/str/approve", tags=["str"], summary="Four-eyes approval")
def str_approve(case_id: CaseId, desk: Desk, user: Compliance) -> dict[str, Any]:
    return desk.actions.approve_str(case_id, actor=user.username)


@router.post("/cases/{case_id}/str/file", tags=["str"], summary="File the approved STR")
def str_file(
    case_id: CaseId,
    desk: Desk,
    background: BackgroundTasks,
    user: Compliance,
) -> dict[str, Any]:
    filed = desk.actions.file_str(case_id, actor=user.username)
    background.add_task(desk.outbox.flush)
    return filed


@router.get(
    "/cases/{case_id}/str",
    tags=["str"],
    summary="The STR as JSON or CSV",
    response_class=PlainTextResponse,
)
def str_export(
    case_id: CaseId,
    desk: Desk,
    user: Compliance,
    format: Literal["json", "csv"] = "json",
) -> PlainTextResponse:
    report = build_str(desk.casefile.case(case_id))
    out = io.StringIO()
    if format == "csv":
        write_str_csv(report, out)
        media = "text/csv"
    else:
        write_str_json(report, out)
        media = "application/json"
    filename = f"str-case-{case_id}.{format}"
    return PlainTextResponse(
        out.getvalue(),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/cases/{case_id}/audit", tags=["audit"], summary="The case's audit trail")
def case_audit(case_id: CaseId, desk: Desk, user: Auditor) -> list[dict[str, Any]]:
    desk.casefile.case(case_id)  # 404 for an unknown case rather than an empty trail
    return desk.casefile.audit_trail(case_id)


@router.get("/audit/verify", tags=["audit"], summary="Check the whole audit chain")
def audit_verify(desk: Desk, user: Auditor) -> dict[str, Any]:
    with desk.store.reading("verifying the audit chain") as conn:
        report = audit.verify(conn)
    return {"intact": report.intact, "entries": report.entries, "problems": report.problems}


@router.get("/labels/pending", tags=["labels"], summary="Labels waiting in the outbox")
def labels_pending(desk: Desk, user: Admin) -> dict[str, int]:
    return {"pending": desk.outbox.pending()}


@router.post("/labels/flush", tags=["labels"], summary="Send waiting labels now")
def labels_flush(desk: Desk, user: Admin) -> dict[str, Any]:
    result = desk.outbox.flush()
    return {"sent": result.sent, "pending": result.pending, "error": result.error}


@router.get("/users", tags=["users"])
def list_users(desk: Desk, user: Admin) -> list[dict[str, str]]:
    return [{"username": u.username, "role": u.role} for u in desk.users.list()]


@router.post("/users", tags=["users"], summary="Make or replace a user; returns its token once")
def create_user(body: NewUserBody, desk: Desk, user: Admin) -> NewUser:
    token = desk.users.create(body.username, body.role, actor=user.username)
    return NewUser(username=body.username, role=body.role, token=token)
