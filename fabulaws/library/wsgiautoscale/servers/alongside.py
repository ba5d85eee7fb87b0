"""Work done in a thread alongside a deploy (create_environment creates its backend servers while the web image
is baked), whose failure the deploy sees as its own at the point where it needs the work done."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ....errors import DeployError


class Alongside:
    """``work`` running in its own thread from ``start()``; ``finish()`` waits for it and raises its failure."""

    def __init__(self, work: Callable[[], object], name: str, what: str) -> None:
        """+ what: what the work makes, for the error (``the environment's servers``)."""
        self._work = work
        self._what = what
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name)

    def _run(self) -> None:
        try:
            self._work()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the waiting thread by finish()
            self._error = exc

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        """Wait for the work to end, however it ends (the deploy's own failure must not leave it running)."""
        if self._thread.is_alive() or self._thread.ident is not None:
            self._thread.join()

    def finish(self) -> None:
        """Wait for the work; DeployError naming what could not be made if it failed."""
        self.join()
        if self._error is not None:
            raise DeployError(f"{self._what} could not all be created: {self._error}")


def run_alongside(main: Callable[[], object], work: Alongside) -> None:
    """``main()`` while ``work`` runs; ``work`` is always waited for, even when ``main`` fails."""
    work.start()
    try:
        main()
    finally:
        work.join()
