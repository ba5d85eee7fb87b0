"""SIGTERM and SIGHUP stop a run the way Ctrl-C does, so it rolls back or stops at a safe point.

A CI job cancelled, a closed terminal or ``timeout`` sends SIGTERM or SIGHUP, whose default action ends the
process at once: no rollback, the group left scaled out, the maintenance page up. With ``install()``, each of
SIGINT, SIGTERM and SIGHUP raises KeyboardInterrupt in the main thread instead (Python runs signal handlers
there), and the engine's ``except BaseException`` handles it like Ctrl-C. ``received()`` names the signal so
the program can exit 130 (interrupted) even when what reaches it is the engine's "rolled back" error.

While the run stops, a repeated SIGTERM or SIGHUP is ignored (a supervisor that sends it twice must not break
the rollback it asked for); a second Ctrl-C is the operator insisting, and interrupts the rollback too.
"""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING

from .report import reporter

if TYPE_CHECKING:
    from types import FrameType

HANDLED = ("SIGINT", "SIGTERM", "SIGHUP")
_received: list[str] = []


def received() -> str | None:
    """The name of the first signal that stopped this run (``SIGTERM``...), or None."""
    return _received[0] if _received else None


def _handler(number: int, frame: FrameType | None) -> None:
    name = signal.Signals(number).name
    first = not _received
    _received.append(name)
    if first or name == "SIGINT":
        raise KeyboardInterrupt(name)
    reporter().notice(f"fabulaws: {name} again: still stopping (rolling back or finishing the current step); "
                      "Ctrl-C interrupts that too")


def install() -> bool:
    """Handle SIGINT, SIGTERM and SIGHUP as Ctrl-C from now on (those not ignored); False outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return False
    for name in HANDLED:
        number = getattr(signal, name, None)
        if number is None or signal.getsignal(number) in (_handler, signal.SIG_IGN):
            continue  # ignored on purpose (``nohup`` ignores SIGHUP): left so
        signal.signal(number, _handler)
    return True


def reset() -> None:
    """Forget what was received (tests running several programs in one process)."""
    _received.clear()
