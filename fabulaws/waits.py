"""Waiting for observable conditions, each with a deadline, an adaptive delay and progress output: the one engine.

Modelled on botocore's waiters (a description, acceptors, delay, attempts),
plus what they lack: progress lines, one batched look per poll, and a
deadline in seconds rather than attempts. It lives below ``library/`` so
that every layer (aws/, remote/, ubuntu/, ec2.py, the deploy engine) waits
the same way.

botocore's own waiters stay, in aws/ (instances, volumes), where one AWS
resource must reach one documented state in seconds (an instance running or
terminated, a volume available or in use): their acceptors carry the failure
states AWS documents, and such a wait needs no progress line. An image takes a
second on the sandbox and minutes on AWS, which no fixed delay serves: it is a
``Wait`` too (aws/images.py), like everything else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from .errors import DeployError, UsageError
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

    @classmethod
    def every(cls, seconds: float) -> Polling:
        """A fixed interval (a look at a host's own state, which does not cost an AWS request)."""
        return cls(seconds, seconds)


@dataclass
class Pace:
    """When a wait that repeats (one per batch of a rolling deploy) can first be done: learned from the last ones.

    Measured rather than read from AWS (a load balancer's check interval, a boot time): measured time is in the
    clock the run waits on, includes the lags AWS adds (registration, the group's own loop), and holds on any
    endpoint. Until it has seen one, a wait polls from the start as usual. The first look comes ``margin`` before
    the time the last one was seen done: a margin that doubles while first looks find it done (the estimate can
    only be late by then) and is back to one ``Polling.delay`` after a miss, so the estimate follows the real
    time down as well as up. A wait whose lateness costs nothing (``early=False``: what comes next waits on its
    own pace) first looks right at that time instead, and so mostly looks once.
    """

    took: float | None = None  # seconds from start() to the look that found the last one done
    margin: float = 0.0  # how much before ``took`` the next first look is (at least one delay)
    early: bool = True  # look a margin early (the run waits on this) or right at the time learned
    started: float = field(default_factory=time.monotonic)

    def start(self, at: float | None = None) -> None:
        """What the wait depends on was set off now, or at monotonic time ``at`` (a launch, a termination)."""
        self.started = time.monotonic() if at is None else at

    def first_look(self, step: float) -> float:
        """Monotonic time of the first look worth making: nothing can have changed before it."""
        if self.took is None:
            return 0.0
        return self.started + max(0.0, self.took - (max(step, self.margin) if self.early else 0.0))

    def learn(self, done_at: float, first_look: bool, step: float) -> None:
        """The wait was seen done at ``done_at``, by its first look or not."""
        self.took = done_at - self.started
        self.margin = min(2 * max(step, self.margin), self.took / 4) if first_look else step


Seen = TypeVar("Seen")  # what one look returns


@dataclass
class Wait(Generic[Seen]):
    """What to look at, when it is done, when it has failed, and how to tell progress."""

    what: str
    look: Callable[[], Seen]
    done: Callable[[Seen], bool]
    progress: Callable[[Seen], str] = str
    failed: Callable[[Seen], str | None] = field(default=lambda value: None)
    deadline: float = 1800.0


def wait_for(wait: Wait[Seen], polling: Polling, report: Callable[[str], None], pace: Pace | None = None) -> Seen:
    """Look until ``wait.done``; WaitFailed on ``wait.failed``; WaitTimedOut after the deadline.

    With a ``pace``, the first look is when the condition can first be true (learned from the last wait) and the
    pace learns when this one was done. Progress is a line each time it changes; on a terminal (``report`` a
    Reporter) it is one live line instead. A delay that is not positive is refused (UsageError): it would look
    in a tight loop.
    """
    if not polling.delay > 0:
        raise UsageError(f"poll={polling.delay:g}: expected a positive number of seconds")
    board = report.status(["waiting"]) if isinstance(report, Reporter) else nullcontext()
    with board as status:
        live = status if isinstance(status, LiveStatus) and status.redrawn else None
        return _poll(wait, polling, report, live, pace)


def _poll(wait: Wait[Seen], polling: Polling, report: Callable[[str], None], live: LiveStatus | None,
          pace: Pace | None) -> Seen:
    started = time.monotonic()
    delay = polling.delay
    last_progress = None
    if pace is not None:  # nothing to see before then; never past the deadline (the first look still happens)
        time.sleep(min(max(0.0, pace.first_look(polling.delay) - started), wait.deadline))
    looks = 0
    while True:
        looked = time.monotonic()
        value = wait.look()
        looks += 1
        elapsed = time.monotonic() - started
        if wait.done(value):
            if pace is not None:
                pace.learn(looked, looks == 1, polling.delay)
            report(f"{wait.what}: done after {elapsed:.0f} s")
            return value
        problem = wait.failed(value)
        if problem:
            raise WaitFailed(f"{wait.what}: {problem}")
        progress = wait.progress(value)
        if elapsed > wait.deadline:
            raise WaitTimedOut(f"{wait.what}: not done after {seconds(wait.deadline)} s ({progress})")
        if live is not None:
            live.update("waiting", f"{wait.what}: {progress}")
        elif progress != last_progress:
            report(f"{elapsed:5.0f} s: waiting for {wait.what}: {progress}")
        last_progress = progress
        time.sleep(min(delay, max(0.0, wait.deadline - elapsed) + 0.01))
        delay = min(delay * 1.5, polling.max_delay)


def seconds(value: float) -> str:
    """Whole seconds, or tenths below ten (a short deadline in a test is not "0 s")."""
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}".removesuffix(".0")
