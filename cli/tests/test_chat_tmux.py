"""``abortkit chat`` in a real terminal (tmux): ESC and Ctrl-C stop a reply mid-stream.

tmux gives the program a real pseudo-terminal, so the ESC watcher's cbreak mode,
SIGINT from Ctrl-C and ``input()`` behave as they do for a person at a keyboard.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")


class Pane:
    def __init__(self, command: str) -> None:
        self.name = f"abortkit-{uuid.uuid4().hex[:8]}"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "160", "-y", "50", command], check=True)
        subprocess.run(["tmux", "set-option", "-t", self.name, "remain-on-exit", "on"], check=True)

    def text(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-J", "-S", "-200", "-t", self.name], capture_output=True, text=True
        ).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, pattern: str, timeout: float = 20.0, count: int = 1) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if len(re.findall(pattern, text)) >= count:
                return text
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} (x{count}) never appeared; the pane shows:\n{self.text()}")

    def dead(self) -> bool:
        out = subprocess.run(
            ["tmux", "display-message", "-p", "-t", self.name, "#{pane_dead}"], capture_output=True, text=True
        ).stdout.strip()
        return out == "1"

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture
def pane() -> Iterator[Pane]:
    created = Pane(f"{sys.executable} -m abortkit_cli chat")
    yield created
    created.kill()


def test_esc_and_ctrl_c_stop_a_reply_and_the_prompt_returns(pane: Pane) -> None:
    pane.wait_for(r"you> ")
    pane.keys("tell me a story", "Enter")
    pane.wait_for(r"model> \S+ \S+ \S+")  # a few words have streamed
    pane.keys("Escape")
    text = pane.wait_for(r"\[ESC: stopped in [0-9.]+ ms; kept [0-9]+ characters\]")
    kept = int(re.search(r"kept ([0-9]+) characters", text).group(1))  # type: ignore[union-attr]
    assert kept > 0
    unwind = float(re.search(r"stopped in ([0-9.]+) ms", text).group(1))  # type: ignore[union-attr]
    assert unwind < 100  # 20x the target: catches a hang, not a benchmark
    pane.wait_for(r"you> ", count=2)

    pane.keys("again", "Enter")
    pane.wait_for(r"model> \S+ \S+ \S+", count=2)
    pane.keys("C-c")
    pane.wait_for(r"\[Ctrl-C: stopped in [0-9.]+ ms; kept [0-9]+ characters\]")
    pane.wait_for(r"you> ", count=3)

    pane.keys("C-c")
    pane.wait_for(r"press Ctrl-C again to exit")
    assert not pane.dead()
    pane.keys("C-c")
    deadline = time.monotonic() + 10
    while not pane.dead() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pane.dead(), pane.text()
    assert "Traceback" not in pane.text()
