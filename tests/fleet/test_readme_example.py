"""The README's fleet example runs as written: a stop from another process's bus ends
the stream with its partial answer and the stopper's reason."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from abortkit.testing import RedisServer

from ._support import HANG, wait_until

README = Path(__file__).resolve().parents[2] / "README.md"


def _fleet_block() -> str:
    (section,) = re.findall(r"## Stop across a fleet.*?```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return section


def test_the_readme_example(redis_server: RedisServer, make_worker: Any) -> None:
    namespace: dict[str, Any] = {"redis_url": redis_server.url}
    exec(compile(_fleet_block(), "README fleet example", "exec"), namespace)
    bus = namespace["bus"]
    try:
        stopper = make_worker()
        result: list[tuple[str, object]] = []
        worker = threading.Thread(target=lambda: result.append(namespace["generate"]("req-42")))
        worker.start()
        wait_until(lambda: bus.watch_count == 1, "the watch to start")
        assert stopper.stop("req-42", "user pressed Stop") is True
        worker.join(HANG)
        ((text, reason),) = result
        assert reason == "user pressed Stop"
        assert len(text) < len("The model keeps talking for a long time") * 100  # stopped early
    finally:
        bus.close()
