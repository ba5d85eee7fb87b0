"""What a person sees: the one place progress lines, warnings, live status lines, summaries and the
program's own messages on standard error are written.

A :class:`Reporter` writes to standard output (``rich`` when it is a terminal,
plain lines otherwise) and remembers every warning, so the end of a run can
list them again. It is also a plain callable (``reporter("line")``), which is
what the deploy engine and the application steps were handed before it existed.

:class:`LiveStatus` is one line per server: redrawn in place on a terminal
(``rich.live``); on anything else only what a log reader needs (each server's
outcome, or each change of a coarse status), never one line per remote output line.

Per-server log files live in ``.fabulaws/logs`` under the project directory:
the directories 0700, the files 0600 from the moment they exist (remote output can
mention hosts, users and paths).
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live

LOG_DIR = Path(".fabulaws") / "logs"  # relative: under the project directory the command runs in


class Reporter:
    """Progress and warnings for a person, written as they happen; thread-safe.

    + out: the stream (default: standard output as it is when a line is written)
    + live: redraw status lines in place; default: ``out`` is a terminal
    """

    def __init__(self, out: TextIO | None = None, live: bool | None = None) -> None:
        self._out = out
        self._live = live
        self._lock = threading.RLock()
        self._console: Console | None = None
        self.warnings: list[str] = []
        self.showing: LiveStatus | None = None  # rich shows one live display at a time

    @property
    def out(self) -> TextIO:
        return self._out if self._out is not None else sys.stdout

    @property
    def live(self) -> bool:
        if self._live is not None:
            return self._live
        try:
            return self.out.isatty()
        except (AttributeError, ValueError):
            return False

    def console(self) -> Console:
        """The rich Console on ``out`` (only used when ``live``)."""
        from rich.console import Console

        if self._console is None or self._console.file is not self.out:
            self._console = Console(file=self.out, highlight=False, markup=False, emoji=False, soft_wrap=True)
        return self._console

    def info(self, message: str) -> None:
        """One line (or several) of progress."""
        with self._lock:
            if self.live:
                self.console().print(message, markup=False, highlight=False)
            else:
                self.out.write(message + "\n")
            self.out.flush()

    __call__ = info

    def notice(self, message: str) -> None:
        """A line on standard error: the program's own messages (a refused command, what a run is about to
        change), kept off standard output so that output can be piped (``describe json=y``)."""
        with self._lock:
            print(message, file=sys.stderr, flush=True)

    def warn(self, message: str) -> None:
        """Something the person must know even though the run goes on (kept in ``warnings``: a deploy's summary
        lists them again)."""
        with self._lock:
            self.warnings.append(message)
        self.info(f"WARNING: {message}")

    def status(self, labels: list[str], every_change: bool = False) -> LiveStatus:
        """A status line per label (see :class:`LiveStatus`); use as a context manager."""
        return LiveStatus(self, labels, every_change)


_default: Reporter | None = None


def reporter() -> Reporter:
    """The process's reporter (standard output), for callers not handed one."""
    global _default
    if _default is None:
        _default = Reporter()
    return _default


def say(report: Callable[[str], None] | None, message: str) -> None:
    """``message`` through ``report`` (a Reporter or any callable), or the process's reporter."""
    (report or reporter())(message)


def warn(report: Callable[[str], None] | None, message: str) -> None:
    """A warning through ``report``: remembered when it is a Reporter, prefixed ``WARNING:`` otherwise."""
    target = report or reporter()
    if isinstance(target, Reporter):
        target.warn(message)
    else:
        target(f"WARNING: {message}")


class LiveStatus:
    """One status line per label while work runs on several servers at once.

    On a terminal the lines are redrawn in place (``rich.live.Live``) and lines
    reported meanwhile scroll above them. Otherwise nothing is redrawn: with
    ``every_change`` each new status is a line (for coarse steps: "launching",
    "installing packages"); without it only ``finish`` and ``note`` write one, so a
    CI log gets a line per server and outcome, not one per remote output line.
    """

    def __init__(self, reporter: Reporter, labels: list[str], every_change: bool = False) -> None:
        self.reporter = reporter
        self.labels = list(labels)
        self.every_change = every_change
        self.status = {label: "waiting" for label in self.labels}
        self.started = {label: time.monotonic() for label in self.labels}
        self.ended: dict[str, float] = {}
        self.width = max((len(label) for label in self.labels), default=0)
        self._lock = threading.Lock()
        self._live: Live | None = None

    @property
    def redrawn(self) -> bool:
        """Whether these lines are redrawn in place (a terminal, and no other live lines showing)."""
        return self._live is not None

    def __enter__(self) -> LiveStatus:
        with self.reporter._lock:
            if self.reporter.live and self.reporter.showing is None:
                from rich.live import Live

                self._live = Live(self._render(), console=self.reporter.console(), refresh_per_second=8,
                                  transient=True, get_renderable=self._render)
                self._live.start()
                self.reporter.showing = self
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
            with self.reporter._lock:
                self.reporter.showing = None

    def update(self, label: str, status: str, final: bool = False) -> None:
        """The label's current state (on a terminal: redrawn at the next refresh); ``final`` stops its clock."""
        status = one_line(status)
        with self._lock:
            if final:
                self.ended.setdefault(label, time.monotonic())
            if self.status.get(label) == status:
                return
            self.status[label] = status
        if self.every_change and not self.redrawn:
            self.note(label, status)

    def note(self, label: str, message: str) -> None:
        """A line that stays, beside its label (printed above the live lines on a terminal)."""
        self.reporter.info(f"{label.ljust(self.width)}  {message}")

    def finish(self, label: str, message: str) -> None:
        """The label's last state: kept as a line that stays."""
        with self._lock:
            self.status[label] = one_line(message)
            self.ended.setdefault(label, time.monotonic())
        self.note(label, message)

    def _render(self) -> Any:
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True, overflow="ellipsis")
        now = time.monotonic()
        with self._lock:
            rows = [(label, self.status[label], self.ended.get(label, now) - self.started[label]) for label in self.labels]
        for label, status, seconds in rows:
            table.add_row(label, f"{seconds:4.0f} s  {status}")
        return table


_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


def one_line(text: str, width: int = 160) -> str:
    """``text`` as one printable line (terminal escapes and carriage-return redraws removed), at most ``width``."""
    lines = [line.strip() for line in _CONTROL.sub("", text.replace("\r", "\n")).splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    return text if len(text) <= width else text[: width - 1] + "…"


def private_dir(directory: Path) -> Path:
    """``directory`` and any missing parent made mode 0700 (never readable by others, not even for a moment);
    an existing one is narrowed to 0700 (older versions left 0755)."""
    missing = [directory, *directory.parents]
    for path in reversed(missing):
        if not path.exists():
            path.mkdir(mode=0o700, exist_ok=True)
    if directory.stat().st_mode & 0o077:
        directory.chmod(0o700)
    return directory


def open_log(directory: Path, *parts: str) -> tuple[Path, TextIO]:
    """A new log file ``<UTC time>_<parts>.log`` in ``directory`` (created 0700), mode 0600, line-buffered."""
    private_dir(directory)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d_%H-%M-%S")
    name = "_".join([stamp, *(re.sub(r"[^A-Za-z0-9.@-]+", "-", part) for part in parts if part)])
    path = directory / f"{name}.log"
    counter = 1
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            break
        except FileExistsError:
            counter += 1
            path = directory / f"{name}-{counter}.log"
    return path, os.fdopen(fd, "w", buffering=1, encoding="utf-8", errors="replace")


def duration(seconds: float) -> str:
    """``2 min 05 s``, ``1 h 02 min``, ``42 s``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
