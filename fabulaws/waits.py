"""Waiting for observable conditions, each with a deadline, an adaptive delay and progress output.

Modelled on botocore's waiters (a description, acceptors, delay, attempts),
plus what they lack: progress lines, one batched look per poll, and a
deadline in seconds rather than attempts.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import DeployError
from .report import LiveStatus, Reporter


class WaitTimedOut(DeployError, TimeoutError):
    """A wait passed its deadline."""


class WaitFailed(DeployError, RuntimeError):
    """A wait saw a state it cannot recover from."""


@dataclass(frozen=True)
class Polling:
    """How often to look: ``delay`` at first, growing by half up to ``max_delay`` (seconds)."""

    delay: float = 2.0
    max_delay: float = 15.0


@dataclass
class Wait:
    """What to look at, when it is done, when it has failed, and how to tell progress."""

    what: str
    look: Callable[[], Any]
    done: Callable[[Any], bool]
    progress: Callable[[Any], str] = str
    failed: Callable[[Any], str | None] = field(default=lambda value: None)
    deadline: float = 1800.0


def wait_for(wait: Wait, polling: Polling, report: Callable[[str], None]) -> Any:
    """Look until ``wait.done``; WaitFailed on ``wait.failed``; WaitTimedOut after the deadline.

    Progress is a line each time it changes; on a terminal (``report`` a Reporter) it is one live line instead.
    """
    board = report.status(["waiting"]) if isinstance(report, Reporter) else nullcontext()
    with board as status:
        return _poll(wait, polling, report, status if isinstance(status, LiveStatus) and status.redrawn else None)


def _poll(wait: Wait, polling: Polling, report: Callable[[str], None], live: LiveStatus | None) -> Any:
    started = time.monotonic()
    delay = polling.delay
    last_progress = None
    while True:
        value = wait.look()
        elapsed = time.monotonic() - started
        if wait.done(value):
            report(f"{wait.what}: done after {elapsed:.0f} s")
            return value
        problem = wait.failed(value)
        if problem:
            raise WaitFailed(f"{wait.what}: {problem}")
        progress = wait.progress(value)
        if elapsed > wait.deadline:
            raise WaitTimedOut(f"{wait.what}: not done after {wait.deadline:.0f} s ({progress})")
        if live is not None:
            live.update("waiting", f"{wait.what}: {progress}")
        elif progress != last_progress:
            report(f"{elapsed:5.0f} s: waiting for {wait.what}: {progress}")
        last_progress = progress
        time.sleep(min(delay, max(0.0, wait.deadline - elapsed) + 0.01))
        delay = min(delay * 1.5, polling.max_delay)
