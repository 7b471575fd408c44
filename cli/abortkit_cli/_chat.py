"""``abortkit chat``: stream a reply in the terminal; ESC or Ctrl-C cancels it at once.

Each turn gets its own controller. Ctrl-C trips it through ``abort_on_sigint``; ESC
is read by a small watcher thread that puts the terminal in cbreak mode for the
duration of the reply (and restores it after). The partial reply stays on screen,
the unwind time is printed, and the prompt comes back. At the prompt, Ctrl-C once
prints a hint and twice in a row exits; Ctrl-D exits too.
"""

from __future__ import annotations

import os
import select
import sys
import threading
import time
from typing import Any, TextIO

from abortkit_providers import registry

from abortkit import AbortController, AbortError, abort_on_sigint

from ._endpoint import UsageError, describe_error, make_provider

__all__ = ["run_chat"]

ESC = b"\x1b"
STORY = (
    "Once upon a time a streaming model kept talking and talking, and the user pressed "
    "ESC to stop it; abortkit closed the socket at once, kept every word that had "
    "arrived, and handed control back to the prompt. "
)


def _story() -> Any:
    """The embedded server's reply: a pause to "think", then words at a readable pace."""
    from abortkit.testing import Gap, Script, Text

    words = STORY.split()
    steps: list[Any] = [Gap(0.6)]
    for index in range(400):
        steps += [Text(words[index % len(words)] + " "), Gap(0.04)]
    return Script(steps=steps)


class _EscWatcher:
    """Trips ``controller`` when ESC is pressed, while a reply streams (TTY only).

    The watcher thread waits on stdin and on a pipe of its own, so that stopping it is
    immediate: the prompt must come back as soon as the reply has unwound.
    """

    def __init__(self, controller: AbortController) -> None:
        self._controller = controller
        self._fd = sys.stdin.fileno() if sys.stdin.isatty() else None
        self._saved: Any = None
        self._wake: tuple[int, int] | None = None
        self._thread = threading.Thread(target=self._run, name="abortkit-esc", daemon=True)

    def __enter__(self) -> _EscWatcher:
        if self._fd is not None:
            import termios
            import tty

            self._saved = termios.tcgetattr(self._fd)
            tty.setcbreak(self._fd)
            self._wake = os.pipe()
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._wake is not None:
            os.write(self._wake[1], b"x")
            self._thread.join()
            for fd in self._wake:
                os.close(fd)
        if self._saved is not None and self._fd is not None:
            import termios

            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)

    def _run(self) -> None:
        assert self._fd is not None and self._wake is not None
        while True:
            readable, _, _ = select.select([self._fd, self._wake[0]], [], [])
            if self._wake[0] in readable:
                return
            if ESC in os.read(self._fd, 64):
                self._controller.abort("esc")


def _turn(provider: Any, history: list[dict[str, str]], out: TextIO) -> None:
    controller = AbortController()
    tripped: list[float] = []
    controller.signal.add_listener(lambda: tripped.append(time.perf_counter()))
    out.write("model> ")
    out.flush()

    def show(text: str) -> None:
        out.write(text)
        out.flush()

    try:
        with abort_on_sigint(controller), _EscWatcher(controller):
            result = provider.chat_stream_response(history, abort_signal=controller.signal, on_text_chunk=show)
    except AbortError as error:
        unwind = (time.perf_counter() - tripped[0]) * 1000 if tripped else float("nan")
        kept = error.partial.text if error.partial is not None else ""
        why = "ESC" if error.reason == "esc" else "Ctrl-C"
        out.write(f"\n[{why}: stopped in {unwind:.1f} ms; kept {len(kept)} characters]\n")
        if kept:
            history.append({"role": "assistant", "content": kept})
        else:
            history.pop()  # nothing came back: forget the question, keep the turns alternating
        return
    except Exception as error:
        out.write(f"\n[error: {describe_error(error)}]\n")
        history.pop()
        return
    out.write("\n")
    history.append({"role": "assistant", "content": result.text})


def run_chat(
    kind: str, base_url: str | None, model: str, api_key_env: str | None, out: TextIO = sys.stdout
) -> int:
    server: Any = None
    try:
        if base_url is None:
            from abortkit.testing import MockLLMServer

            server = MockLLMServer(default_script=_story()).start()
            base_url = registry.get(kind).base_url_of(server)
            provider = make_provider(kind, base_url, model, api_key_env, api_key="mock-key")
        else:
            provider = make_provider(kind, base_url, model, api_key_env)
    except (UsageError, ImportError) as error:  # ImportError: a missing extra, named in its message
        if server is not None:
            server.stop()
        out.write(f"abortkit chat: {error}\n")
        return 2
    out.write(f"abortkit chat with {kind} at {base_url}\n"
              "ESC or Ctrl-C stops a reply; Ctrl-C twice at the prompt (or Ctrl-D) exits.\n")
    history: list[dict[str, str]] = []
    interrupted_at_prompt = False
    try:
        while True:
            try:
                line = input("you> ")
            except KeyboardInterrupt:
                if interrupted_at_prompt:
                    out.write("\n")
                    return 0
                interrupted_at_prompt = True
                out.write("\n(press Ctrl-C again to exit)\n")
                continue
            except EOFError:
                out.write("\n")
                return 0
            interrupted_at_prompt = False
            if not line.strip():
                continue
            history.append({"role": "user", "content": line})
            _turn(provider, history, out)
    finally:
        if server is not None:
            server.stop()
