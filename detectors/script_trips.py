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

Calls are sent with EVALSHA: EVAL would send the script's 8 KB of text
with every call, and Redis would hash it twice per call (some 5% of its
instructions per event). The script is loaded once, before the first
call (:class:`~detectors.lua_script.LuaScript` remembers it). A server that
has lost its script cache since (a restart, ``SCRIPT FLUSH``) answers
NOSCRIPT, and with several calls in flight that alone would not be safe:
once another client had loaded the script again, the calls after the one
that met NOSCRIPT would run, ahead of it. They do not, because the calls
are chained (``entities.lua``'s guard): a call other than a chain's first
runs only if the guard holds the number of the call before it, which only
that call's completing writes. So after a NOSCRIPT for call k, every later
call of its chain either met NOSCRIPT too or refused to run (a SKIPPED
error), having changed nothing; :meth:`ScriptTrips.receive` reads their
replies, checks that each is one of those two (anything else, say a later
chain's first call that ran, fails the trips instead, as any failure
does), loads the script and sends calls k.. again, in order, on the same
connection, then reads replies as before.

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
from collections import deque
from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError, ResponseError

from detectors.lua_script import LuaScript
from detectors.resp import pack_call as _pack_call
from detectors.resp import pack_command

#: Rounds of reloading the script and sending the lost calls again before the
#: trips give up (each needs the cache emptied again meanwhile).
RELOADS = 3

#: The start of the error a chained call answers when the call before it did not complete.
SKIPPED = "SKIPPED"


def without_comments(source: str) -> str:
    """The script without its whole-line ``--`` comments and blank lines, to load.

    >>> without_comments("-- about\\nlocal x = 1  -- one\\n\\n  -- more\\nreturn x\\n")
    'local x = 1  -- one\\nreturn x\\n'
    """
    return "".join(
        line for line in source.splitlines(keepends=True) if not re.match(r"\s*(--|$)", line)
    )


def pack_call(sha: bytes, keys: Sequence[Any], args: Sequence[Any]) -> bytes:
    """``EVALSHA sha`` with its keys and arguments in Redis's protocol.

    Packed by :mod:`detectors.resp` (hiredis's packer spent ~14k
    instructions per event on these calls, and redis-py's own first copies
    every argument through a Python generator: a hundred or more per call
    here, the entities' heads and the customers' blobs).
    """
    return _pack_call(b"EVALSHA", sha, keys, args)


class ScriptTrips:
    """One script's calls on one connection of ``client``'s pool, replies read in order.

    The calls must be chained as ``entities.lua``'s are (the module says
    why). Use as a context manager: the connection returns to the pool on
    exit, or is closed if replies are still outstanding (they would
    otherwise answer the next user's commands).
    """

    def __init__(self, client: redis.Redis, script: LuaScript) -> None:
        self._client = client
        self._pool = client.connection_pool
        self._script = script
        self._sha = script.sha.encode()
        self._connection: Any = None
        self._sent: deque[bytes] = deque()
        """The calls sent whose replies are not read yet, oldest first, as packed."""

    def __enter__(self) -> ScriptTrips:
        self._script.load_once(self._client)
        self._connection = self._pool.get_connection()
        return self

    def __exit__(self, *exc: object) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._sent:
            self._sent.clear()
            connection.disconnect()
        self._pool.release(connection)

    def send(self, keys: Sequence[Any], args: Sequence[Any]) -> None:
        """Send one call; its reply comes from a later :meth:`receive`. Raises redis.RedisError.

        Keys and arguments are str (sent as UTF-8), bytes or int.
        """
        packed = pack_call(self._sha, keys, args)
        try:
            self._connection.send_packed_command([packed], check_health=not self._sent)
        except BaseException:
            self._fail()
            raise
        self._sent.append(packed)

    def receive(self) -> Any:
        """The reply to the oldest call not yet received. Raises redis.RedisError."""
        if not self._sent:
            raise RuntimeError("no script call is awaiting its reply")
        try:
            for _ in range(RELOADS):
                try:
                    reply = self._connection.read_response()
                    break
                except NoScriptError:
                    self._send_again()
            else:
                reply = self._connection.read_response()
        except BaseException:
            self._fail()
            raise
        self._sent.popleft()
        return reply

    def _send_again(self) -> None:
        """After a NOSCRIPT for the oldest call: load the script and send it and
        every later call again, once their replies show that none of them ran."""
        connection = self._connection
        for _ in range(len(self._sent) - 1):
            try:
                reply = connection.read_response()
            except NoScriptError:
                continue
            except ResponseError as exc:
                if str(exc).startswith(SKIPPED):
                    continue
                raise
            msg = f"a script call ran after one that met NOSCRIPT (replied {reply!r})"
            raise ResponseError(msg)
        load = pack_command((b"SCRIPT", b"LOAD", self._script.source))
        connection.send_packed_command([load, *self._sent], check_health=False)
        connection.read_response()

    def _fail(self) -> None:
        # The calls after a failed one may or may not have run: none of their
        # replies can be trusted, and unread ones must not reach another user.
        self._sent.clear()
        self._connection.disconnect()
