"""Calls of one Lua script sent as soon as they are made, their replies read later, in order.

A state batch is folded in Python and then recorded in Redis by one script
call. Waiting for each call's reply before folding the next part of the
batch leaves the worker idle for as long as Redis runs the script (about a
third of the state layer's time per event on these machines) while Redis's
own core idles during the fold. Here calls go out on one connection as they
are made and their replies, which Redis sends in the order it ran the calls,
are read only when wanted: Redis runs one part while the worker folds the
next, and the worker builds the first part's features while Redis runs the
last.

Calls are sent with EVAL and the script's text, not EVALSHA: a call that
must not be lost cannot meet NOSCRIPT. With several calls in flight a
server that lost its script cache (a restart, ``SCRIPT FLUSH``) would
answer NOSCRIPT to some and, once any client had loaded the script again,
run the later ones, and no rerun after that keeps them in order. EVAL costs
Redis a SHA1 of the text per call (``entities.lua`` without its comments is
about 8 KB: some 20 µs per call, well under a microsecond per event for
calls of tens of events); the compiled script stays in Redis's cache.

A failure (a connection lost, a script error) closes the connection: the
replies still outstanding are lost with it, and the caller must treat what
it sent after the failed call as unknown (:mod:`detectors.state` drops the
customers it holds, so they are read again from Redis). Calls already sent
after a failed one still reach Redis; ``entities.lua`` chains a batch's
calls through a guard key so that each refuses to run unless the one
before it completed, and so only a leading run of a batch's calls is ever
recorded. (A script that fails midway is not undone by Redis: the script
writes its customers last, after every read, where most failures come.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import redis

from detectors.resp import pack_call as _pack_call


def without_comments(source: str) -> str:
    """The script without its whole-line ``--`` comments and blank lines, for EVAL.

    >>> without_comments("-- about\\nlocal x = 1  -- one\\n\\n  -- more\\nreturn x\\n")
    'local x = 1  -- one\\nreturn x\\n'
    """
    return "".join(
        line for line in source.splitlines(keepends=True) if not re.match(r"\s*(--|$)", line)
    )


def pack_call(source: bytes, keys: Sequence[Any], args: Sequence[Any]) -> bytes:
    """``EVAL source`` with its keys and arguments in Redis's protocol.

    Packed by :mod:`detectors.resp` (hiredis's packer spent ~14k
    instructions per event on these calls, and redis-py's own first copies
    every argument through a Python generator: a hundred or more per call
    here, the entities' heads and the customers' blobs).
    """
    return _pack_call(b"EVAL", source, keys, args)


class ScriptTrips:
    """One script's calls on one connection of ``client``'s pool, replies read in order.

    Use as a context manager: the connection returns to the pool on exit, or
    is closed if replies are still outstanding (they would otherwise answer
    the next user's commands).
    """

    def __init__(self, client: redis.Redis, source: str) -> None:
        self._pool = client.connection_pool
        self._source = source.encode()
        self._connection: Any = None
        self._outstanding = 0

    def __enter__(self) -> ScriptTrips:
        self._connection = self._pool.get_connection()
        return self

    def __exit__(self, *exc: object) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._outstanding:
            self._outstanding = 0
            connection.disconnect()
        self._pool.release(connection)

    def send(self, keys: Sequence[Any], args: Sequence[Any]) -> None:
        """Send one call; its reply comes from a later :meth:`receive`. Raises redis.RedisError.

        Keys and arguments are str (sent as UTF-8), bytes or int.
        """
        connection = self._connection
        try:
            connection.send_packed_command(
                [pack_call(self._source, keys, args)], check_health=self._outstanding == 0
            )
        except BaseException:
            self._fail()
            raise
        self._outstanding += 1

    def receive(self) -> Any:
        """The reply to the oldest call not yet received. Raises redis.RedisError."""
        if not self._outstanding:
            raise RuntimeError("no script call is awaiting its reply")
        try:
            reply = self._connection.read_response()
        except BaseException:
            self._fail()
            raise
        self._outstanding -= 1
        return reply

    def _fail(self) -> None:
        # The calls after a failed one may or may not have run: none of their
        # replies can be trusted, and unread ones must not reach another user.
        self._outstanding = 0
        self._connection.disconnect()
