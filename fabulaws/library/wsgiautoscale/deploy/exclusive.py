"""One operation at a time per environment: the environment's lease, for every task that changes its servers.

Deploys take the lease through their journal (deploy/operation.py); the day-2 tasks (database restores, in-place
deploys, replica promotion, reboots, recreating servers) take it here, and are refused while a deploy's journal
waits for ``recover``: an unfinished deploy's rollback must not meet servers another task changed.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator

from ....aws import Aws
from ....aws.statestore import StateStore
from .journal import Journal
from .lease import GroupLocked, Lease


@contextlib.contextmanager
def environment_locked(aws: Aws, deployment: str, environment: str, operation: str,
                       report: Callable[[str], None]) -> Iterator[Lease]:
    """The environment's lease, renewed until the block ends; GroupLocked (nothing changed) naming the holder
    while another run has it, or while an earlier deploy did not finish."""
    store = StateStore.for_environment(aws, deployment, environment, report)
    lease = Lease.acquire(store, uuid.uuid4().hex[:12], operation)
    try:
        unfinished = Journal.load(store)
        if unfinished is not None:
            raise GroupLocked(f"an earlier {unfinished.describe()} did not finish; run "
                              f"`fabulaws recover:{deployment},{environment}` first")
        lease.start_renewing()
        yield lease
    finally:
        lease.release()
