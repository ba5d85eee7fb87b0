"""fabulaws.report: the one place output for a person goes through (lines, warnings, live status, log files)."""

from __future__ import annotations

import io
import os
import pty
import stat
import threading
import time
from types import SimpleNamespace

from fabulaws.library.wsgiautoscale.servers.creation import Creation
from fabulaws.library.wsgiautoscale.servers.provision import ServerSpec
from fabulaws.report import Reporter, duration, one_line, open_log, warn


class Terminal:
    """A pseudo-terminal: what is written to ``file`` is what a person's terminal would receive."""

    def __init__(self) -> None:
        self.master, slave = pty.openpty()
        self.file = os.fdopen(slave, "w")
        self.chunks: list[bytes] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.chunks.append(chunk)

    def screen(self) -> str:
        time.sleep(0.2)
        return b"".join(self.chunks).decode(errors="replace")

    def close(self) -> None:
        self.file.close()
        os.close(self.master)


def test_lines_and_warnings_plain():
    out = io.StringIO()
    reporter = Reporter(out=out)
    reporter("one")
    reporter.warn("no worker server")
    warn(reporter, "second")
    plain: list[str] = []
    warn(plain.append, "to a callable")
    assert out.getvalue() == "one\nWARNING: no worker server\nWARNING: second\n"
    assert reporter.warnings == ["no worker server", "second"]
    assert plain == ["WARNING: to a callable"]
    assert not reporter.live  # a StringIO is not a terminal


def test_status_without_a_terminal_writes_outcomes_not_every_output_line():
    out = io.StringIO()
    with Reporter(out=out).status(["[10.0.0.1] (web)", "[10.0.0.2] (worker)"]) as board:
        board.update("[10.0.0.1] (web)", "Collecting django")
        board.update("[10.0.0.1] (web)", "Installing collected packages")
        board.finish("[10.0.0.1] (web)", "done")
    assert out.getvalue() == "[10.0.0.1] (web)     done\n"


def test_status_every_change_without_a_terminal():
    out = io.StringIO()
    with Reporter(out=out).status(["db-primary (a)", "cache (b)"], every_change=True) as board:
        board.update("cache (b)", "launching")
        board.update("cache (b)", "launching")  # unchanged: no new line
        board.update("db-primary (a)", "installing packages")
    assert out.getvalue().splitlines() == ["cache (b)       launching", "db-primary (a)  installing packages"]


def test_status_on_a_terminal_is_redrawn_in_place_with_rich():
    terminal = Terminal()
    try:
        reporter = Reporter(out=terminal.file)
        assert reporter.live
        with reporter.status(["[10.0.0.1] (web)", "[10.0.0.2] (worker)"]) as board:
            board.update("[10.0.0.1] (web)", "Collecting django==5.1")
            time.sleep(0.4)
            board.update("[10.0.0.1] (web)", "Successfully installed django-5.1")
            time.sleep(0.4)
            reporter.info("[10.0.0.2] (worker) migrate: done")  # above the live lines
        screen = terminal.screen()
    finally:
        terminal.close()
    assert "Collecting django==5.1" in screen and "Successfully installed django-5.1" in screen
    assert "[10.0.0.2] (worker) migrate: done" in screen
    assert "\x1b[" in screen  # cursor movement: redrawn, not appended


def test_one_line_keeps_the_last_printable_line():
    assert one_line("Downloading x\r 10%\r 55%\r") == "55%"
    assert one_line("\x1b[32mok\x1b[0m\n\n") == "ok"
    assert one_line("") == ""
    assert len(one_line("x" * 500)) == 160


def test_log_files_are_private_and_never_overwritten(tmp_path):
    first, handle = open_log(tmp_path / "logs", "migrate", "10.0.0.5")
    handle.close()
    second, handle = open_log(tmp_path / "logs", "migrate", "10.0.0.5")
    handle.close()
    assert first != second and first.name.endswith("_migrate_10.0.0.5.log")
    assert stat.S_IMODE(first.stat().st_mode) == 0o600 and stat.S_IMODE(second.stat().st_mode) == 0o600


def test_duration():
    assert (duration(42.4), duration(125), duration(3720)) == ("42 s", "2 min 05 s", "1 h 02 min")


class FakeServer:
    """Stands in for NewServer at Creation's ``make`` boundary (no AWS, no SSH): reports two steps, then fails
    once for the cache server."""

    tries: dict[str, int] = {}

    def __init__(self, spec, log, report, cancel) -> None:
        self.spec, self.log, self.report = spec, log, report
        self.instance = None

    def create(self):
        self.report("launching")
        self.log.info("launched")
        FakeServer.tries[self.spec.role] = FakeServer.tries.get(self.spec.role, 0) + 1
        if self.spec.role == "cache" and FakeServer.tries["cache"] == 1:
            raise RuntimeError("CreateTags throttled (injected)")
        self.report("installing packages")
        return SimpleNamespace(instance_id=f"i-{self.spec.role}", hostname=f"{self.spec.role}.example", internal_ip="10.0.0.9")

    def discard(self) -> None:
        self.log.info("discarded")


def test_parallel_creation_plain_output_and_private_logs(tmp_path):
    FakeServer.tries = {}
    out = io.StringIO()
    specs = [ServerSpec("myproject", "testing", "cache", "us-east-1a"), ServerSpec("myproject", "testing", "worker", "us-east-1b")]
    outcomes = Creation(specs, FakeServer, tmp_path / "logs", report=Reporter(out=out)).run()
    text = out.getvalue()
    assert all(o.ok for o in outcomes)
    assert text.startswith("Creating servers in parallel; each has its own log file:\n")
    assert "cache (us-east-1a)   failed (RuntimeError: CreateTags throttled (injected)); retrying" in text
    assert "cache (us-east-1a)   try 2/3: installing packages" in text
    assert "worker (us-east-1b)  ready: i-worker at worker.example" in text
    assert text.rstrip().endswith("Created 2 of 2 servers.")
    assert "\x1b[" not in text  # no escape sequences where there is no terminal
    for outcome in outcomes:
        assert stat.S_IMODE(outcome.log_file.stat().st_mode) == 0o600, outcome.log_file


def test_parallel_creation_on_a_terminal_uses_live_lines(tmp_path):
    FakeServer.tries = {}
    terminal = Terminal()
    try:
        specs = [ServerSpec("myproject", "testing", "cache", "us-east-1a")]
        Creation(specs, FakeServer, tmp_path / "logs", report=Reporter(out=terminal.file)).run()
        screen = terminal.screen()
    finally:
        terminal.close()
    assert "ready: i-cache at cache.example" in screen and "Created 1 of 1 servers." in screen
    assert "\x1b[" in screen


def test_a_second_status_while_one_is_live_falls_back_to_lines():
    """create_environment creates servers (live lines) while the engine reports too: rich allows one live
    display at a time, so the second one prints its changes as lines instead of failing."""
    terminal = Terminal()
    try:
        reporter = Reporter(out=terminal.file)
        with reporter.status(["cache (a)"], every_change=True) as first:
            with reporter.status(["[10.0.0.1] (worker)"], every_change=True) as second:
                second.update("[10.0.0.1] (worker)", "bootstrap")
            first.update("cache (a)", "installing packages")
            assert first.redrawn and not second.redrawn
        with reporter.status(["again"]) as third:
            assert third.redrawn  # the first one ended
        screen = terminal.screen()
    finally:
        terminal.close()
    assert "[10.0.0.1] (worker)  bootstrap" in screen


def counting_wait(polls: int):
    from fabulaws.waits import Wait

    seen = []

    def look():
        seen.append(len(seen))
        return len(seen)

    return Wait("3 instance(s) InService", look, lambda n: n >= polls, progress=lambda n: f"{n} of {polls} looks"), seen


def test_a_wait_on_a_terminal_is_one_live_line():
    from fabulaws.waits import Polling, wait_for

    terminal = Terminal()
    try:
        wait, _ = counting_wait(4)
        wait_for(wait, Polling(0.2, 0.2), Reporter(out=terminal.file))
        screen = terminal.screen()
    finally:
        terminal.close()
    assert "3 instance(s) InService: 2 of 4 looks" in screen and "\x1b[" in screen
    assert "waiting for 3 instance(s)" not in screen  # no progress lines piled up
    assert "3 instance(s) InService: done after " in screen


def test_a_wait_without_a_terminal_prints_each_change():
    from fabulaws.waits import Polling, wait_for

    out = io.StringIO()
    wait, _ = counting_wait(3)
    wait_for(wait, Polling(0.01, 0.01), Reporter(out=out))
    lines = out.getvalue().splitlines()
    assert [line.split(": ", 1)[1] for line in lines[:2]] == [
        "waiting for 3 instance(s) InService: 1 of 3 looks", "waiting for 3 instance(s) InService: 2 of 3 looks"]
    assert lines[2] == "3 instance(s) InService: done after 0 s"
