"""A redis-server run under callgrind: what the benches count Redis's work in.

Wall-clock times of Lua scripts swing with the load of these shared 2-core
machines far more than the scripts change; instruction counts do not.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from riskwatch.services import free_port, redis_server_binary


def instructions(workdir: Path, work: Callable[[redis.Redis], Any]) -> int:
    """Instructions a fresh redis-server executes while ``work`` uses it (callgrind's total)."""
    port = free_port()
    out = workdir / f"callgrind-{port}.out"
    argv = [
        *("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", redis_server_binary()),
        *("--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(workdir)),
    ]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    try:
        for _ in range(600):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        work(client)
        client.shutdown(nosave=True)
    except redis.ConnectionError:
        pass  # SHUTDOWN closes the connection
    finally:
        server.wait(timeout=120)
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    msg = f"no instruction total in {out}"
    raise RuntimeError(msg)
