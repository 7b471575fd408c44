"""``RedisServer``: a real ``redis-server`` on a free loopback port, for tests of the
stop bus (``abortkit.fleet``) and anything built on it.

It can be killed (``SIGKILL``: no shutdown, no save, connections reset, every key
lost, as in a crash without persistence) and started again on the same port, which
is how the tests and the benchmark take Redis away mid-run. It runs with persistence
off, in a temporary directory of its own. Needs the ``redis-server`` executable
(Debian: ``apt-get install redis-server``); it speaks to it with a raw socket, so the
``redis`` Python package is not needed here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from types import TracebackType

__all__ = ["RedisServer"]

_READY_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """``with RedisServer() as server:`` then ``server.url``; ``kill()``, ``start()``, ``restart()``.

    ``port``: fixed, or ``None`` for a free one (chosen at the first start and kept
    across restarts). ``executable``: the ``redis-server`` to run.
    """

    def __init__(self, *, port: int | None = None, executable: str = "redis-server") -> None:
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
            raise ValueError(f"RedisServer port must be an int in 1..65535 or None, not {port!r}")
        if not isinstance(executable, str):
            raise TypeError(f"RedisServer executable must be a str, not {type(executable).__name__}")
        path = shutil.which(executable)
        if path is None:
            raise FileNotFoundError(
                f"{executable!r} was not found on PATH: install Redis (Debian: apt-get install redis-server)"
            )
        self._executable = path
        self._fixed_port = port is not None
        self._port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="abortkit-redis-")

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("RedisServer has not been started yet")
        return self._port

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process is not None else None

    def start(self) -> RedisServer:
        """Start (again) and wait until it answers PING."""
        if self.running:
            raise RuntimeError("RedisServer is already running")
        attempts = 1 if self._fixed_port or self._port is not None else 5
        for attempt in range(attempts):
            if self._port is None:
                self._port = _free_port()
            try:
                self._launch()
                return self
            except OSError:
                if attempt == attempts - 1:
                    raise
                self._port = None  # another process took the port in between: pick another
        return self

    def _launch(self) -> None:
        log = os.path.join(self._dir.name, "redis.log")
        self._process = subprocess.Popen(
            [
                self._executable,
                "--port", str(self._port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self._dir.name,
                "--logfile", log,
                "--daemonize", "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + _READY_TIMEOUT
        while True:
            if self._process.poll() is not None:
                self._process = None
                raise OSError(f"redis-server exited at start on port {self._port}: {self._log_tail(log)}")
            if self._answers_ping():
                return
            if time.monotonic() > deadline:
                self.kill()
                raise OSError(f"redis-server did not answer PING within {_READY_TIMEOUT:g} s: {self._log_tail(log)}")
            time.sleep(0.005)

    @staticmethod
    def _log_tail(path: str) -> str:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()[-500:].strip() or "(empty log)"
        except OSError:
            return "(no log)"

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """``SIGKILL`` and wait: as a crash (every key lost, every connection reset)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
        if process is not None:
            process.wait()

    def restart(self) -> RedisServer:
        """``kill()`` then ``start()`` on the same port: an empty Redis again."""
        self.kill()
        return self.start()

    def close(self) -> None:
        self.kill()
        with contextlib.suppress(OSError):
            self._dir.cleanup()

    def __enter__(self) -> RedisServer:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = f"127.0.0.1:{self._port}" if self._port is not None else "no port yet"
        return f"<RedisServer {where} {'running' if self.running else 'stopped'}>"
