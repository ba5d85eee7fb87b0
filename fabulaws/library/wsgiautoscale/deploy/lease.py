"""The lock of an environment: a lease in S3 that names its holder and is renewed while the run lives.

Acquired with a create-only write (two operators starting at the same instant: exactly one wins), renewed
every third of its length with If-Match (a lease taken over by ``recover`` is noticed at the next renewal),
released by deleting the object only while it is still ours. A holder that died stops renewing; once its
lease has expired, ``recover`` may take it over.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from ....aws.statestore import PreconditionFailed, StateStore
from ....errors import DeployError

LEASE_VARIABLE = "FABULAWS_LEASE_SECONDS"
DEFAULT_LEASE = 120.0


class GroupLocked(DeployError, RuntimeError):
    """Another run holds the environment."""


class LeaseLost(DeployError, RuntimeError):
    """Our lease was taken over (or could not be renewed before it expired): stop at the next safe point."""


def lease_seconds() -> float:
    """The lease length: ``FABULAWS_LEASE_SECONDS`` (tests shorten it), else 120 s."""
    value = os.environ.get(LEASE_VARIABLE)
    try:
        seconds = float(value) if value else DEFAULT_LEASE
    except ValueError:
        raise DeployError(f"{LEASE_VARIABLE}={value!r}: expected a number of seconds") from None
    return max(seconds, 1.0)


def _utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


@dataclass(frozen=True)
class Holder:
    """Who holds the lease, for which run, since and until when (epoch seconds)."""

    run: str
    operation: str
    operator: str
    machine: str
    pid: int
    started: float
    expires: float

    @classmethod
    def me(cls, run: str, operation: str, seconds: float) -> Holder:
        now = time.time()
        return cls(run, operation, getpass.getuser(), socket.gethostname(), os.getpid(), now, now + seconds)

    @classmethod
    def from_dict(cls, data: dict) -> Holder:
        fields: dict[str, Any] = {k: data.get(k) for k in cls.__dataclass_fields__}
        return cls(**{**fields, "pid": int(fields["pid"] or 0), "started": float(fields["started"] or 0),
                      "expires": float(fields["expires"] or 0)})

    def to_dict(self) -> dict:
        return {**asdict(self), "started_utc": _utc(self.started), "expires_utc": _utc(self.expires)}

    @property
    def expired(self) -> bool:
        return time.time() > self.expires

    def describe(self) -> str:
        state = f"lease expired at {_utc(self.expires)}" if self.expired else f"lease live until {_utc(self.expires)}"
        return (f"{self.operation} of {self.operator} on {self.machine} (pid {self.pid}) since "
                f"{_utc(self.started)}, {state} (run {self.run})")


class Lease:
    """Our hold on an environment's lock object; ``lost`` is set once it is no longer ours."""

    def __init__(self, store: StateStore, holder: Holder, etag: str, seconds: float) -> None:
        self.store = store
        self.holder = holder
        self.etag = etag
        self.seconds = seconds
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- getting it ----------------------------------------------------------------------------
    @classmethod
    def acquire(cls, store: StateStore, run: str, operation: str, hint: str = "") -> Lease:
        """Create the lock object or refuse naming its holder (GroupLocked). One atomic write."""
        seconds = lease_seconds()
        holder = Holder.me(run, operation, seconds)
        try:
            etag = store.create(store.lock_key, holder.to_dict())
        except PreconditionFailed:
            found = store.read(store.lock_key)
            other = Holder.from_dict(found[0]) if found else None
            who = other.describe() if other else "a run that just ended"
            raise GroupLocked(f"{store.prefix} is locked by {who}{hint}") from None
        return cls(store, holder, etag, seconds)

    @classmethod
    def take_over(cls, store: StateStore, run: str, operation: str, hint: str = "") -> Lease:
        """For ``recover``: our lease in place of an expired one (or none); GroupLocked while one is live."""
        found = store.read(store.lock_key)
        if found is None:
            return cls.acquire(store, run, operation, hint)
        other = Holder.from_dict(found[0])
        if not other.expired:
            raise GroupLocked(f"{store.prefix} is locked by {other.describe()}; it is still running (its lease is "
                              f"renewed while it lives): wait for it, or stop it and recover once the lease expired")
        seconds = lease_seconds()
        holder = Holder.me(run, operation, seconds)
        try:
            etag = store.replace(store.lock_key, holder.to_dict(), found[1])
        except PreconditionFailed:
            raise GroupLocked(f"{store.prefix}: another recover took the expired lease at the same moment") from None
        return cls(store, holder, etag, seconds)

    # --- keeping it ----------------------------------------------------------------------------
    def renew(self) -> None:
        """Extend the lease (If-Match our last ETag); sets ``lost`` when somebody else wrote the lock."""
        with self._lock:
            if self.lost.is_set():
                return
            holder = Holder(**{**asdict(self.holder), "expires": time.time() + self.seconds})
            try:
                self.etag = self.store.replace(self.store.lock_key, holder.to_dict(), self.etag)
                self.holder = holder
            except PreconditionFailed:
                self.lost.set()
            except Exception:  # noqa: BLE001 - a network blip: retried at the next beat, lost once expired
                if self.holder.expired:
                    self.lost.set()

    def start_renewing(self) -> None:
        """A daemon thread renewing every third of the lease until ``release`` (dies with the process)."""
        def beat() -> None:
            while not self._stop.wait(self.seconds / 3):
                self.renew()

        self._thread = threading.Thread(target=beat, name="fabulaws-lease", daemon=True)
        self._thread.start()

    def check(self) -> None:
        """LeaseLost once the lease is not ours any more (called at safe points between steps)."""
        if self.lost.is_set():
            raise LeaseLost(f"the lock of {self.store.prefix} was taken over (or could not be renewed before it "
                            f"expired): this run stops here and leaves the rest to whoever holds it now")

    def release(self) -> None:
        """Stop renewing; delete the lock object if it is still ours."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        with self._lock:
            if not self.lost.is_set():
                self.store.delete(self.store.lock_key, self.etag)


def read_holder(store: StateStore) -> Holder | None:
    found = store.read(store.lock_key)
    return Holder.from_dict(found[0]) if found else None
