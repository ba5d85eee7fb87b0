"""Several servers at once: one thread each, its own log file, a live status line, 3 tries, one summary.

Replaces 1.x's ``_create_many``/``_retry_new`` (a process per server, an abort
on the first failure that left the others running, and ``-PENDING`` servers
left behind). Here a failed try is discarded (instance and volume) before the
next; a db-replica created alongside a db-primary waits for it; Ctrl-C stops
every thread at its next step and discards what it created.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ....errors import ConfigError, DeployError, UsageError
from ....report import LiveStatus, Reporter, private_dir, reporter
from ....secrets import MissingSecret
from ....waits import Polling, Wait, wait_for
from .provision import Cancelled, NewServer, ServerSpec

log = logging.getLogger(__name__)

# The same try would fail the same way: configuration, missing secrets, interruption, and bugs.
NOT_RETRIED = (ConfigError, UsageError, MissingSecret, Cancelled, AttributeError, TypeError, NameError)


@dataclass
class Outcome:
    spec: ServerSpec
    label: str
    log_file: Path
    tries: int = 0
    seconds: float = 0.0
    instance_id: str | None = None
    address: str | None = None
    error: str | None = None
    kept: str | None = None  # instance left for inspection

    @property
    def ok(self) -> bool:
        return self.error is None


PRIMARY_DEADLINE = 10800  # seconds a db-replica waits for the db-primary created alongside (its 3 tries, each bounded)


class PrimaryRendezvous:
    """A db-replica asks for its primary's address; a primary being created alongside answers when it is ready."""

    def __init__(self, existing: str = "", pending: bool = False, deadline: float = PRIMARY_DEADLINE) -> None:
        self._address = existing
        self._ready = threading.Event()
        self._failed = ""
        self.deadline = deadline
        if not pending:
            self._ready.set()

    def primary_ready(self, address: str) -> None:
        self._address = address
        self._ready.set()

    def primary_failed(self, reason: str) -> None:
        self._failed = reason
        self._ready.set()

    def address(self, cancel: threading.Event | None = None) -> str:
        """The primary's address once it is ready; DeployError if it failed or its deadline passed, Cancelled on
        ``cancel``."""

        def ready() -> bool:
            if cancel is not None and cancel.is_set() and not self._ready.is_set():
                raise Cancelled("interrupted while waiting for the db-primary")
            return self._ready.is_set()

        wait_for(Wait("the db-primary created alongside", ready, lambda ready: ready and not self._failed,
                      lambda ready: "still being created; its log file says how far it got",
                      failed=lambda ready: f"failed ({self._failed})" if self._failed else None,
                      deadline=self.deadline), Polling.every(0.5), log.debug)
        return self._address


def log_path(directory: Path, spec: ServerSpec, index: int) -> Path:
    """Where a server's creation is logged (``directory`` is usually LOG_DIR: under the project directory)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d_%H-%M-%S")
    return directory / f"{stamp}_{spec.deployment}_{spec.environment}_{spec.role}_{spec.zone}_{index}.log"


def server_logger(name: str, path: Path) -> tuple[logging.Logger, logging.Handler]:
    """A logger writing to ``path`` only (created mode 0600: it names hosts, users and paths)."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger(f"fabulaws.new.{name}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return logger, handler


@dataclass
class Creation:
    """Create ``specs`` in parallel with ``make(spec, try, log, report)`` building each try's NewServer."""

    specs: list[ServerSpec]
    make: Callable[..., NewServer]
    log_dir: Path
    tries: int = 3
    keep_failed: bool = False
    report: Reporter = field(default_factory=reporter)
    primary: PrimaryRendezvous = field(default_factory=PrimaryRendezvous)
    cancel: threading.Event = field(default_factory=threading.Event)

    def run(self) -> list[Outcome]:
        outcomes = [
            Outcome(spec, f"{spec.role} ({spec.zone})" + (f" #{i}" if self._repeats(spec) else ""), log_path(self.log_dir, spec, i))
            for i, spec in enumerate(self.specs, 1)
        ]
        say = self.report.info
        say("Creating servers in parallel; each has its own log file:")
        for outcome in outcomes:
            say(f"  {outcome.label}: {outcome.log_file}")
        with self.report.status([o.label for o in outcomes], every_change=True) as board:
            threads = [threading.Thread(target=self._create, args=(o, board), name=o.label, daemon=True)
                       for o in outcomes]
            for thread in threads:
                thread.start()
            try:
                for thread in threads:
                    while thread.is_alive():
                        thread.join(0.2)
            except KeyboardInterrupt:
                self.cancel.set()
                say("Interrupted: stopping each server at its next step and discarding it...")
                for thread in threads:
                    thread.join()
                raise
        self._summary(outcomes)
        return outcomes

    def _repeats(self, spec: ServerSpec) -> bool:
        return sum(1 for s in self.specs if (s.role, s.zone) == (spec.role, spec.zone)) > 1

    def _create(self, outcome: Outcome, board: LiveStatus) -> None:
        log, handler = server_logger(f"{outcome.spec.role}.{outcome.log_file.stem}", outcome.log_file)
        started = time.monotonic()
        try:
            for attempt in range(1, self.tries + 1):
                outcome.tries = attempt
                prefix = f"try {attempt}/{self.tries}: " if attempt > 1 else ""
                server = self.make(outcome.spec, log, lambda status, prefix=prefix: board.update(outcome.label, prefix + status),
                                   self.cancel)
                try:
                    instance = server.create()
                except BaseException as exc:  # noqa: BLE001 - every failure is logged, discarded, maybe retried
                    outcome.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, DeployError) else str(exc)
                    log.error("try %d failed: %s\n%s", attempt, outcome.error, traceback.format_exc())
                    last = attempt == self.tries or isinstance(exc, NOT_RETRIED) or self.cancel.is_set()
                    if last and self.keep_failed and server.instance is not None and server.instance.instance_id:
                        server.keep()
                        outcome.kept = server.instance.instance_id
                    else:
                        board.update(outcome.label, prefix + "failed; discarding")
                        server.discard()
                    if last:
                        break
                    board.update(outcome.label, f"failed ({outcome.error[:60]}); retrying")
                    log.warning("**** Server creation failed; retrying (attempt #%d)... ****", attempt + 1)
                    continue
                outcome.error = None
                outcome.instance_id = instance.instance_id
                outcome.address = instance.hostname
                if outcome.spec.role in ("db-primary", "combo"):
                    self.primary.primary_ready(instance.internal_ip)
                break
        finally:
            outcome.seconds = time.monotonic() - started
            if outcome.error and outcome.spec.role in ("db-primary", "combo"):
                self.primary.primary_failed(outcome.error)
            board.finish(outcome.label, f"ready: {outcome.instance_id} at {outcome.address} ({outcome.seconds:.0f} s)"
                         if outcome.ok else f"FAILED after {outcome.tries} tries ({outcome.seconds:.0f} s)")
            log.removeHandler(handler)
            handler.close()

    def _summary(self, outcomes: list[Outcome]) -> None:
        failed = [o for o in outcomes if not o.ok]
        self.report.info(f"Created {len(outcomes) - len(failed)} of {len(outcomes)} servers.")
        for outcome in failed:
            kept = f"; left {outcome.kept} (-PENDING) for inspection" if outcome.kept else ""
            self.report.info(f"  FAILED {outcome.label}: {outcome.error} (log: {outcome.log_file}{kept})")


def raise_for_failures(outcomes: list[Outcome]) -> None:
    failed = [o for o in outcomes if not o.ok]
    if failed:
        names = ", ".join(f"{o.label} (see {o.log_file})" for o in failed)
        raise DeployError(f"Server creation failed for: {names}")
