"""Scripts by EVALSHA in pipelines: NOSCRIPT mended by rerunning only what did not run."""

from __future__ import annotations

import pytest
import redis

from detectors.lua_script import LuaScript, ScriptPipeline

#: Counts its calls in KEYS[1] and answers the count.
COUNT = "return redis.call('INCR', KEYS[1])"


def _script(key_prefix: str, source: str) -> LuaScript:
    # A comment unique to the test gives a SHA1 no earlier test has loaded.
    return LuaScript(f"-- {key_prefix}\n{source}")


def test_a_script_is_loaded_before_its_first_pipeline(redis_url: str, key_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    script = _script(key_prefix, COUNT)
    assert client.script_exists(script.sha) == [False]
    pipe = ScriptPipeline(client, transaction=True)
    pipe.call(script, [f"{key_prefix}:calls"], [])
    # Loaded before the MULTI/EXEC is sent: no NOSCRIPT to mend outside it.
    assert client.script_exists(script.sha) == [True]
    assert pipe.execute() == [1]


def _lost(script: LuaScript) -> LuaScript:
    """As if this process had loaded the script and the server had lost it since."""
    script.loaded = True
    return script


@pytest.mark.parametrize("transaction", [True, False])
def test_a_script_the_server_lost_is_loaded_and_run_once(
    redis_url: str, key_prefix: str, transaction: bool
) -> None:
    client = redis.Redis.from_url(redis_url)
    script = _lost(_script(key_prefix, COUNT))
    assert client.script_exists(script.sha) == [False]
    pipe = ScriptPipeline(client, transaction=transaction)
    pipe.commands.incr(f"{key_prefix}:plain")
    pipe.call(script, [f"{key_prefix}:calls"], [])
    pipe.commands.incr(f"{key_prefix}:plain")
    assert pipe.execute() == [1, 1, 2]
    assert client.script_exists(script.sha) == [True]
    assert int(client.get(f"{key_prefix}:calls") or 0) == 1
    assert int(client.get(f"{key_prefix}:plain") or 0) == 2


def test_after_a_script_flush_each_call_runs_once_in_order(redis_url: str, key_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    first = _script(key_prefix, "return redis.call('RPUSH', KEYS[1], 'first')")
    second = _script(key_prefix, "return redis.call('RPUSH', KEYS[1], 'second')")
    log = f"{key_prefix}:log"
    for script in (first, second):
        client.script_load(script.source)
        script.loaded = True
    client.script_flush()
    pipe = ScriptPipeline(client, transaction=False)
    pipe.call(first, [log], [])
    pipe.call(second, [log], [])
    pipe.call(first, [log], [])
    assert pipe.execute() == [1, 2, 3]
    assert client.lrange(log, 0, -1) == [b"first", b"second", b"first"]


def test_only_the_calls_that_answered_noscript_run_again(redis_url: str, key_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    loaded = _script(key_prefix, COUNT + " + 0")
    missing = _lost(_script(key_prefix, COUNT + " + 100"))
    client.script_load(loaded.source)
    pipe = ScriptPipeline(client, transaction=True)
    pipe.call(loaded, [f"{key_prefix}:a"], [])
    pipe.call(missing, [f"{key_prefix}:b"], [])
    assert pipe.execute() == [1, 101]
    assert int(client.get(f"{key_prefix}:a") or 0) == 1
    assert int(client.get(f"{key_prefix}:b") or 0) == 1


def test_a_script_error_other_than_noscript_is_raised(redis_url: str, key_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    failing = _script(key_prefix, "return redis.error_reply('refused')")
    pipe = ScriptPipeline(client, transaction=False)
    pipe.commands.set(f"{key_prefix}:x", 1)
    pipe.call(failing, [], [])
    with pytest.raises(redis.ResponseError, match="refused"):
        pipe.execute()
    assert client.get(f"{key_prefix}:x") == b"1"
