"""Remote output as it arrives: each command's stdout and stderr streamed into a server's log file, and its
latest line handed to a status callback (the operator's live line for that server).

Output is still captured into the Result as usual, so callers that parse ``result.stdout`` are unchanged;
only where it is written changes: never to the operator's terminal directly, always to the log.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from fabric import Connection


class LogSink:
    """The file-like object invoke writes a command's output into (one for stdout, one for stderr)."""

    def __init__(self, log: TextIO, lock: threading.Lock, on_line: Callable[[str], None]) -> None:
        self.log = log
        self.lock = lock
        self.on_line = on_line
        self.partial = ""

    def write(self, data: str) -> int:
        with self.lock:
            self.log.write(data)
            self.log.flush()
        text = (self.partial + data).replace("\r", "\n")
        lines = text.split("\n")
        self.partial = lines[-1][-500:]
        latest = next((line for line in reversed(lines) if line.strip()), "")
        if latest:
            self.on_line(latest)
        return len(data)

    def flush(self) -> None:
        with self.lock:
            self.log.flush()

    def isatty(self) -> bool:
        return False


def readable(command: str) -> str:
    """What a command does, without the ``sudo ... bash -c``/``cd X &&``/``export ...;`` wrapping around it."""
    text = command
    for _ in range(3):
        try:
            parts = shlex.split(text)
        except ValueError:
            break
        flags = [n for n, part in enumerate(parts) if part in ("-c", "-lc")]
        if parts[:1] != ["sudo"] or not flags or flags[-1] + 1 >= len(parts):
            break
        text = parts[flags[-1] + 1]
    while text.startswith(("cd ", "export ")):
        found = [text.find(marker) for marker in (" && ", "; ") if marker in text]
        if not found:
            break
        text = text[min(found):].lstrip(" &;")
    return text


class StreamedConnection:
    """A Fabric Connection whose ``run`` and ``sudo`` stream output into ``log`` and their latest line to ``status``.

    + cxn: the Connection (everything else, e.g. ``put``, ``host``, ``close``, is passed through)
    + log: an open text file (the caller opens it, mode 0600, and closes it)
    + status: called with a short line: the command when it starts, then its latest output line
    """

    def __init__(self, cxn: Connection, log: TextIO, status: Callable[[str], None] | None = None) -> None:
        self.cxn = cxn
        self.log = log
        self.status = status or (lambda line: None)
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cxn, name)

    def _note(self, line: str) -> None:
        with self._lock:
            self.log.write(line + "\n")
            self.log.flush()

    def _streamed(self, method: Callable[..., Any], command: str, kwargs: dict) -> Any:
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        self._note(f"[{stamp}] $ {command}")
        self.status(f"$ {readable(command)}")
        out, err = LogSink(self.log, self._lock, self.status), LogSink(self.log, self._lock, self.status)
        kwargs.update(hide=False, echo=False, out_stream=out, err_stream=err)
        started = time.monotonic()
        try:
            result = method(command, **kwargs)
        except Exception as exc:
            exited = getattr(getattr(exc, "result", None), "exited", None)
            self._note(f"[exit {exited if exited is not None else type(exc).__name__} after "
                       f"{time.monotonic() - started:.1f} s]")
            raise
        if out.partial or err.partial:
            self._note("")  # the last output line had no newline
        self._note(f"[exit {result.exited} after {time.monotonic() - started:.1f} s]")
        return result

    def run(self, command: str, **kwargs: object) -> Any:
        return self._streamed(self.cxn.run, command, kwargs)

    def sudo(self, command: str, **kwargs: object) -> Any:
        return self._streamed(self.cxn.sudo, command, kwargs)


def connection_of(cxn: Connection) -> Any:
    """The Fabric Connection itself (for code that needs the real object, e.g. invoke's Task, which refuses
    anything but a Context)."""
    return cxn.cxn if isinstance(cxn, StreamedConnection) else cxn
