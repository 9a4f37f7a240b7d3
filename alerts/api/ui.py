"""The web UI: server-rendered pages for the triage queue, alert detail,
actions and the compliance case view. No JavaScript; forms post and redirect.

The login form takes an API token and keeps it in an HTTP-only, SameSite
Strict cookie, so the pages check the same roles as the API. Actions redirect
back with a message, or with the error the action raised (an invalid move,
the four-eyes rule), so a reload never repeats a post.
"""

from __future__ import annotations

import importlib.resources
import io
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from alerts.api.auth import ANY_ROLE, AUDITORS, CASE_WORKERS, COMPLIANCE, COOKIE, desk_of
from alerts.api.chart import income_expenditure_svg
from alerts.api.models import QueueParams
from alerts.casefile import daily_flows
from alerts.errors import CaseStoreError, InvalidAction
from alerts.queue import SORTS, QueueQuery
from alerts.schema import CASE_STATUSES, SEVERITIES
from alerts.str_report import build_str, write_str_csv, write_str_json
from alerts.users import User
from riskwatch.contracts import CHANNELS

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=str(importlib.resources.files("alerts.api") / "templates"))

_ACTIONS = {
    "assign_me": CASE_WORKERS,
    "investigate": CASE_WORKERS,
    "escalate": CASE_WORKERS,
    "confirm_fraud": CASE_WORKERS,
    "false_positive": CASE_WORKERS,
    "comment": CASE_WORKERS,
    "str_prepare": COMPLIANCE,
    "str_approve": COMPLIANCE,
    "str_file": COMPLIANCE,
}


def _user(request: Request) -> User | None:
    token = request.cookies.get(COOKIE)
    return desk_of(request).users.by_token(token) if token else None


def _page(
    request: Request, name: str, user: User | None, status: int = 200, **context: Any
) -> Response:
    context.update(
        user=user,
        message=request.query_params.get("msg"),
        error=request.query_params.get("error"),
    )
    return templates.TemplateResponse(request, name, context, status_code=status)


def error_page(request: Request, status: int, detail: str) -> Response:
    """An error from the store (an unknown case, a database outage) as a page."""
    titles = {404: "Not found", 409: "Not allowed now", 503: "Database unavailable"}
    try:
        user = _user(request)
    except CaseStoreError:  # the database is what failed; show the page without a user
        user = None
    return _page(
        request,
        "error.html",
        user,
        status,
        title=titles.get(status, "Error"),
        detail=detail,
    )


def _forbidden(request: Request, user: User, roles: tuple[str, ...]) -> Response:
    return _page(
        request,
        "error.html",
        user,
        status=403,
        title="Not allowed",
        detail=f"{user.username} has role {user.role}; this page needs {' or '.join(roles)}.",
    )


def _login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/login?next={quote(target)}", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/ui/") -> Response:
    return _page(request, "login.html", None, next=_local(next))


@router.post("/login")
def login(
    request: Request,
    token: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/ui/",
) -> Response:
    user = desk_of(request).users.by_token(token.strip())
    if user is None:
        return _page(
            request, "login.html", None, status=401, next=_local(next), error="unknown token"
        )
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", max_age=12 * 3600)
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
def queue_page(request: Request) -> Response:
    user = _user(request)
    if user is None:
        return _login_redirect(request)
    raw = {k: v for k, v in request.query_params.items() if v != "" and k not in ("msg", "error")}
    try:
        params = QueueParams(**raw)
    except ValidationError as exc:
        params = QueueParams(open_only=True)
        error = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _queue(request, user, params, raw, status=422, filter_error=error)
    if "open_only" not in raw and "status" not in raw:
        params = params.model_copy(update={"open_only": True})
    return _queue(request, user, params, raw)


def _queue(
    request: Request, user: User, params: QueueParams, raw: dict[str, str], **extra: Any
) -> Response:
    desk = desk_of(request)
    cases = desk.casefile.queue(QueueQuery(**params.model_dump()))
    top_alerts = desk.casefile.top_alerts([c["case_id"] for c in cases])

    def sort_link(key: str) -> str:
        current = params.sort
        wanted = f"-{key}" if current != f"-{key}" else key
        return "?" + urlencode({**raw, "sort": wanted})

    status = extra.pop("status", 200)
    return _page(
        request,
        "queue.html",
        user,
        status=status,
        cases=cases,
        top_alerts=top_alerts,
        params=params,
        raw=raw,
        sort_link=sort_link,
        statuses=CASE_STATUSES,
        severities=SEVERITIES,
        channels=CHANNELS,
        sorts=SORTS,
        **extra,
    )


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: str) -> Response:
    user = _user(request)
    if user is None:
        return _login_redirect(request)
    desk = desk_of(request)
    alert = desk.casefile.alert(alert_id)
    case = desk.casefile.case(alert["case_id"])
    history = desk.casefile.customer_transactions(alert["customer_id"], alert["event_time"])
    flows = daily_flows(history, alert["event_time"])
    features = alert["features"] or {}
    snapshot_30d = {
        k: features[k]
        for k in ("credit_sum_30d", "debit_sum_30d", "net_flow_30d", "max_inflow_30d")
        if k in features
    }
    return _page(
        request,
        "alert.html",
        user,
        alert=alert,
        case=case,
        history=history[:20],
        chart=income_expenditure_svg(flows),
        chart_from=flows[0].day,
        chart_to=flows[-1].day,
        snapshot_30d=snapshot_30d,
        labels=desk.casefile.labels(case["case_id"]),
        label_target=desk.outbox.target.describe(),
        can_work=user.role in CASE_WORKERS,
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: int) -> Response:
    user = _user(request)
    if user is None:
        return _login_redirect(request)
    if user.role not in ANY_ROLE:
        return _forbidden(request, user, ANY_ROLE)
    desk = desk_of(request)
    case = desk.casefile.case(case_id)
    trail = desk.casefile.audit_trail(case_id) if user.role in AUDITORS else None
    return _page(
        request,
        "case.html",
        user,
        case=case,
        trail=trail,
        labels=desk.casefile.labels(case_id),
        label_target=desk.outbox.target.describe(),
        can_work=user.role in CASE_WORKERS,
        is_compliance=user.role in COMPLIANCE,
        sla_left=_sla_left(case, desk.store.clock()),
    )


@router.get("/cases/{case_id}/str.{fmt}")
def str_download(request: Request, case_id: int, fmt: str) -> Response:
    user = _user(request)
    if user is None:
        return _login_redirect(request)
    if user.role not in COMPLIANCE:
        return _forbidden(request, user, COMPLIANCE)
    if fmt not in ("json", "csv"):
        return _page(request, "error.html", user, 404, title="Not found", detail="json or csv")
    report = build_str(desk_of(request).casefile.case(case_id))
    out = io.StringIO()
    if fmt == "csv":
        write_str_csv(report, out)
    else:
        write_str_json(report, out)
    return PlainTextResponse(
        out.getvalue(),
        media_type="text/csv" if fmt == "csv" else "application/json",
        headers={"Content-Disposition": f'attachment; filename="str-case-{case_id}.{fmt}"'},
    )


@router.post("/cases/{case_id}/act")
def act(
    request: Request,
    case_id: int,
    action: Annotated[str, Form()],
    next: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
) -> Response:
    user = _user(request)
    if user is None:
        return _login_redirect(request)
    back = _local(next or f"/ui/cases/{case_id}")
    roles = _ACTIONS.get(action)
    if roles is None:
        return _back(back, error=f"unknown action {action!r}")
    if user.role not in roles:
        return _forbidden(request, user, roles)
    desk = desk_of(request)
    actions, me = desk.actions, user.username
    try:
        message = _do(desk, actions, action, case_id, me, text)
    except InvalidAction as exc:
        return _back(back, error=str(exc))
    return _back(back, msg=message)


def _do(desk: Any, actions: Any, action: str, case_id: int, me: str, text: str) -> str:
    if action == "assign_me":
        actions.assign(case_id, me, actor=me)
        return f"case {case_id} assigned to {me}"
    if action in ("investigate", "escalate"):
        status = "investigating" if action == "investigate" else "escalated"
        actions.move(case_id, status, actor=me)
        return f"case {case_id} is {status}"
    if action in ("confirm_fraud", "false_positive"):
        resolution = "confirmed_fraud" if action == "confirm_fraud" else "false_positive"
        actions.close(case_id, resolution, actor=me)
        return f"case {case_id} closed as {resolution}; {_flush(desk)}"
    if action == "comment":
        actions.comment(case_id, text, actor=me)
        return "comment added"
    if action == "str_prepare":
        actions.prepare_str(case_id, text, actor=me)
        return "STR prepared; a second compliance user must approve it"
    if action == "str_approve":
        actions.approve_str(case_id, actor=me)
        return "STR approved"
    actions.file_str(case_id, actor=me)
    return f"STR filed, case {case_id} closed; {_flush(desk)}"


def _flush(desk: Any) -> str:
    result = desk.outbox.flush()
    where = desk.outbox.target.describe()
    if result.error:
        return f"labels wait in the outbox ({result.pending}): {result.error}"
    return f"{result.sent} label(s) sent to {where}"


def _back(url: str, **query: str) -> Response:
    joiner = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{joiner}{urlencode(query)}", status_code=303)


def _local(url: str) -> str:
    """Only paths inside the UI, so a crafted ``next`` cannot send a user elsewhere."""
    path = url.split("?", 1)[0]
    return url if path.startswith("/ui/") and "//" not in url and "\\" not in url else "/ui/"


def _sla_left(case: dict[str, Any], now: Any) -> str | None:
    due = case.get("sla_due_at")
    if due is None or case["status"] == "closed":
        return None
    left: timedelta = due - now
    hours = left.total_seconds() / 3600
    return f"{hours:.1f} h left" if hours >= 0 else f"breached {-hours:.1f} h ago"
