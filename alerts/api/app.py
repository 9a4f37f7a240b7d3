"""The FastAPI app: the JSON API, the web UI, and the label retry loop.

>>> from alerts.desk import CaseDesk
>>> from alerts.labels import LabelTarget
>>> from pathlib import Path
>>> desk = CaseDesk.open("sqlite://", LabelTarget(path=Path("unused.jsonl")))
>>> sorted(p for p in create_app(desk).openapi()["paths"] if "str" in p)
['/api/v1/cases/{case_id}/str', '/api/v1/cases/{case_id}/str/approve', \
'/api/v1/cases/{case_id}/str/file', '/api/v1/cases/{case_id}/str/prepare']
>>> desk.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from alerts.api.routes import router
from alerts.api.ui import error_page
from alerts.api.ui import router as ui_router
from alerts.desk import CaseDesk
from alerts.errors import (
    AlertNotFound,
    CaseNotFound,
    CaseStoreError,
    CaseStoreUnavailable,
    InvalidAction,
)
from alerts.queue_metrics import CaseQueueCollector

logger = logging.getLogger(__name__)

_STATUS_FOR_ERROR: list[tuple[type[Exception], int]] = [
    (CaseNotFound, 404),
    (AlertNotFound, 404),
    (InvalidAction, 409),
    (CaseStoreUnavailable, 503),
    (CaseStoreError, 500),
]


def create_app(desk: CaseDesk, *, label_retry_seconds: float | None = None) -> FastAPI:
    """The app over ``desk``; waiting labels are retried every ``label_retry_seconds``."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        retry = None
        if label_retry_seconds:
            retry = asyncio.create_task(_retry_labels(desk, label_retry_seconds))
        try:
            yield
        finally:
            if retry is not None:
                retry.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await retry

    app = FastAPI(
        title="riskwatch case queue",
        version="1",
        description=(
            "Triage queue, case and alert detail, and case actions for analysts and compliance."
            " Authenticate with 'Authorization: Bearer <token>'."
        ),
        lifespan=lifespan,
    )
    app.state.desk = desk
    app.include_router(router)
    app.include_router(ui_router)
    static = importlib.resources.files("alerts.api") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    for error, status in _STATUS_FOR_ERROR:
        app.add_exception_handler(error, _handler(status))

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # Aggregate counts only (no customer, no case detail): served without a
    # token, as Prometheus scrapes it.
    registry = CollectorRegistry()
    registry.register(CaseQueueCollector(desk.store))

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _handler(status: int) -> Any:
    async def handle(request: Request, exc: Exception) -> Response:
        if status >= 500:
            logger.error("case store error: %s", exc)
        if request.url.path.startswith("/ui/"):
            return error_page(request, status, str(exc))
        return JSONResponse({"detail": str(exc)}, status_code=status)

    return handle


async def _retry_labels(desk: CaseDesk, every: float) -> None:
    """Send labels that waited (Kafka was down) until the server stops."""
    while True:
        await asyncio.sleep(every)
        try:
            await run_in_threadpool(desk.outbox.flush)
        except CaseStoreError as exc:
            logger.warning("label retry: %s", exc)
