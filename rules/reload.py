"""Hot reload: the rule engine in force, swapped whole when its packs change.

The running flow asks :meth:`RuleBook.maybe_reload` before each batch. At most
every ``check_seconds`` (wall time) that looks at the pack files'
modification times and at a reload signal in Redis, which
``riskwatch rules reload`` bumps after it has validated the packs. When
either changed, every pack is loaded again; only if all of them load is the
new engine swapped in, by one assignment, between batches. A pack that
fails to load leaves the old engine in force, and the failure is logged and
counted; it is not retried until the files or the signal change again.

Every alert records the pack versions of the engine that evaluated it, and
each hit its rule's id and version.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import redis

from rules.engine import RuleEngine
from rules.errors import RuleError

logger = logging.getLogger(__name__)


def reload_signal_key(namespace: str) -> str:
    """The Redis key ``riskwatch rules reload`` increments.

    >>> reload_signal_key("rw")
    'rw:rules:reload'
    """
    return f"{namespace}:rules:reload"


def signal_reload(client: redis.Redis, namespace: str) -> int:
    """Ask every running monitor on this Redis and namespace to reload its packs."""
    return int(client.incr(reload_signal_key(namespace)))


def _mtimes(paths: Sequence[Path]) -> tuple[int | None, ...]:
    out: list[int | None] = []
    for path in paths:
        try:
            out.append(os.stat(path).st_mtime_ns)
        except OSError:
            out.append(None)
    return tuple(out)


class RuleBook:
    """Holds the engine in force and replaces it when its packs change."""

    def __init__(
        self,
        load: Callable[[], RuleEngine],
        watched: Sequence[Path],
        check_seconds: float,
        client: redis.Redis | None = None,
        namespace: str = "rw",
        on_reload: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._watched = tuple(watched)
        self._check_seconds = check_seconds
        self._client = client
        self._signal_key = reload_signal_key(namespace)
        self._on_reload = on_reload or (lambda outcome: None)
        self._clock = clock
        self._lock = threading.Lock()
        self.engine = load()
        self._seen = (self._mtimes(), self._signal())
        self._checked_at = clock()

    def _mtimes(self) -> tuple[int | None, ...]:
        return _mtimes(self._watched)

    def _signal(self) -> bytes | None:
        if self._client is None:
            return None
        try:
            return self._client.get(self._signal_key)
        except redis.RedisError as exc:
            logger.warning("cannot read the rule reload signal: %s", exc)
            return None

    def maybe_reload(self) -> bool:
        """Reload if a pack file or the reload signal changed; True if a new engine is in."""
        if self._check_seconds <= 0 or self._clock() - self._checked_at < self._check_seconds:
            return False
        # Worker threads share the book: one checks, the others go on with the old engine.
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self._checked_at = self._clock()
            seen = (self._mtimes(), self._signal())
            if seen == self._seen:
                return False
            self._seen = seen
            return self.reload()
        finally:
            self._lock.release()

    def reload(self) -> bool:
        """Load every pack again and swap the engine in if all of them load."""
        old = self.engine.version
        try:
            engine = self._load()
        except RuleError as exc:
            logger.error("rule packs not reloaded, %s stays in force: %s", old, exc)
            self._on_reload("failed")
            return False
        self.engine = engine
        logger.info("rule packs reloaded: %s (was %s)", engine.version, old)
        self._on_reload("ok")
        return True
