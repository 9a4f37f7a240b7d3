"""Lua scripts called by EVALSHA from pipelines, without a round trip to check them.

redis-py's ``Script`` makes every pipeline that calls one start with ``SCRIPT
EXISTS`` (``Pipeline.load_scripts``): a round trip of its own before each
batch's pipeline, several per batch in the monitor. Here a script is loaded
once, before the first pipeline that calls it, and pipelines call it by its
SHA1 alone. A script the server has lost since (a restart or ``SCRIPT
FLUSH`` emptied its cache) answers ``NOSCRIPT``, which
:meth:`ScriptPipeline.execute` mends: it loads the script and runs again
those calls, and only those, that answered ``NOSCRIPT``. Loading first keeps
that mending for a cache lost mid-run: the rerun happens after, and outside,
a MULTI/EXEC, so a process that died between the two would leave the
pipeline's other writes without the script's. (The state store's own
script, whose calls are several in flight at once, mends a NOSCRIPT its
own way: :mod:`detectors.script_trips` says how.)

Why rerunning only those calls is exact: a call that answered ``NOSCRIPT``
did nothing, and every other command of the pipeline did what it would have
done, in MULTI/EXEC too (Redis queues ``EVALSHA`` and fails it at EXEC
without undoing the rest). The calls are rerun in their order, after the
pipeline's other commands; the pipelines here queue their scripts last, so
that is where they would have run. (A cache emptied halfway through one
pipeline fails only its later calls, which are still rerun in order.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError


def ints_as_text(values: Sequence[Any]) -> list[Any]:
    """``values`` with every int as its decimal text: the same bytes reach Redis.

    redis-py packs commands with hiredis, and hiredis 3.5 turns an int into
    text with a call that checks for signals: a signal whose handler raises
    there (SIGTERM, Ctrl-C) crashes the process (a NULL it does not check).
    """
    return [str(v) if type(v) is int else v for v in values]


class LuaScript:
    """A script's source and SHA1, loaded before its first call and again after a NOSCRIPT."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        self.loaded = False
        """Loaded into the server by this process (which may have lost it since)."""

    def load_once(self, client: redis.Redis) -> None:
        """Load it into ``client``'s server unless this process did already."""
        if not self.loaded:
            client.script_load(self.source)
            self.loaded = True


class ScriptPipeline:
    """A redis-py pipeline (:attr:`commands`) plus the Lua script calls queued on it."""

    def __init__(self, client: redis.Redis, *, transaction: bool) -> None:
        self._client = client
        self._transaction = transaction
        self.commands = client.pipeline(transaction=transaction)
        """Queue plain commands here; :meth:`call` queues a script."""
        self._calls: list[tuple[int, LuaScript, tuple[Any, ...]]] = []

    def call(self, script: LuaScript, keys: Sequence[Any], args: Sequence[Any]) -> None:
        """Queue ``script`` with its keys and arguments (its reply takes its place in order)."""
        script.load_once(self._client)
        evalsha_args = (script.sha, str(len(keys)), *keys, *ints_as_text(args))
        self._calls.append((len(self.commands), script, evalsha_args))
        self.commands.evalsha(*evalsha_args)

    def execute(self) -> list[Any]:
        """Every command's reply, in order; raises the first error as redis-py does."""
        replies: list[Any] = self.commands.execute(raise_on_error=False)
        missing = [call for call in self._calls if isinstance(replies[call[0]], NoScriptError)]
        if missing:
            self._rerun(missing, replies)
        self._calls = []
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def _rerun(
        self, missing: list[tuple[int, LuaScript, tuple[Any, ...]]], replies: list[Any]
    ) -> None:
        for script in {id(s): s for _, s, _ in missing}.values():
            self._client.script_load(script.source)
        again = self._client.pipeline(transaction=self._transaction)
        for _, _, evalsha_args in missing:
            again.evalsha(*evalsha_args)
        for (position, _, _), reply in zip(
            missing, again.execute(raise_on_error=False), strict=True
        ):
            replies[position] = reply
