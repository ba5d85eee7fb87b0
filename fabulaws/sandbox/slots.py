"""Slots: what lets several sandboxes (with or without hosts) run on one machine at once.

Each running sandbox holds one slot N (an flock'd file, held by the sandbox process, so a crash frees it)
and everything that must not collide is derived from N:

* the VPC range the seed uses, 10.N.0.0/16, and moto's default VPC, 172.(16+N).0.0/16: a sandbox never
  hands out an address another sandbox's hosts have, and refuses VPCs in another slot's ranges;
* with hosts, the router network namespace ``fabsbxN`` (bridge, gateways, 169.254.169.254, the services
  address 10.0.0.1), the link ``fabsbxN`` the operator's machine reaches it by (198.18.N.0/30), the host
  namespaces ``fabN-<instance>``, the firewall rules commented ``fabulaws-sandbox-N`` and the load
  balancer addresses 127.10.N.0/24. ``sandbox down`` removes only these.

The slot is also written to the state directory (``slot``) so ``down`` after ``kill -9`` knows its own.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SLOTS = 15  # 0..14: default VPCs 172.16/16 .. 172.30/16 (moto's own 172.31/16 stays a plain moto server's)
SERVICES_ADDRESS = "10.0.0.1"  # the git server and apt cache, in every slot (each in its own namespace)
METADATA_ADDRESS = "169.254.169.254"


class SlotsExhausted(RuntimeError):
    """Every slot is held by a running sandbox (or by the leftovers of a killed one)."""


@dataclass(frozen=True)
class Slot:
    """Names and address ranges of slot ``number``."""

    number: int

    @property
    def vpc_network(self) -> ipaddress.IPv4Network:
        """Where the seed puts the project's VPC (subnets 10.N.1.0/24, 10.N.2.0/24...)."""
        return ipaddress.IPv4Network(f"10.{self.number}.0.0/16")

    @property
    def default_vpc_network(self) -> ipaddress.IPv4Network:
        """moto's default VPC in this sandbox (AWS's is 172.31.0.0/16)."""
        return ipaddress.IPv4Network(f"172.{16 + self.number}.0.0/16")

    @property
    def networks(self) -> tuple[ipaddress.IPv4Network, ...]:
        return (self.vpc_network, self.default_vpc_network)

    @property
    def balancer_network(self) -> ipaddress.IPv4Network:
        """Loopback addresses of this sandbox's load balancers (reachable from the operator's machine)."""
        return ipaddress.IPv4Network(f"127.10.{self.number}.0/24")

    @property
    def link_network(self) -> ipaddress.IPv4Network:
        """The point-to-point link between the operator's machine and the router namespace (RFC 2544 range)."""
        return ipaddress.IPv4Network(f"198.18.{self.number}.0/30")

    @property
    def outside_address(self) -> str:
        return str(self.link_network.network_address + 1)

    @property
    def router_address(self) -> str:
        return str(self.link_network.network_address + 2)

    @property
    def router(self) -> str:
        """The router network namespace, and the operator's end of the link to it."""
        return f"fabsbx{self.number}"

    @property
    def host_prefix(self) -> str:
        """Prefix of the hosts' network namespace names."""
        return f"fab{self.number}-"

    @property
    def comment(self) -> str:
        """The comment on this slot's firewall rules."""
        return f"fabulaws-sandbox-{self.number}"

    def others(self) -> list[Slot]:
        return [Slot(n) for n in range(SLOTS) if n != self.number]

    def owner_of(self, cidr: str) -> Slot | None:
        """Another slot whose ranges ``cidr`` overlaps (None: free for this sandbox)."""
        network = ipaddress.IPv4Network(cidr, strict=False)
        for other in self.others():
            if any(network.overlaps(own) for own in other.networks):
                return other
        return None


def slots_directory() -> Path:
    """Where the slot lock files live: shared by every user of the machine (a moto-only sandbox too)."""
    override = os.environ.get("FABULAWS_SANDBOX_SLOTS")
    if override:
        return Path(override)
    run = Path("/run/fabulaws/sandbox-slots")
    if os.geteuid() == 0 or run.is_dir():
        return run
    return Path("/tmp/fabulaws-sandbox-slots")


def _open(path: Path) -> int:
    """Open (create) a lock file; the directory is shared (mode 1777), so open an existing file without O_CREAT."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        old = os.umask(0o022)
        try:
            return os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        finally:
            os.umask(old)


def _ensure_directory(directory: Path) -> None:
    if not directory.is_dir():
        directory.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(directory, 0o1777)
        except PermissionError:
            pass


class SlotLock:
    """A held slot: the lock stays held while this object (and the process) lives."""

    def __init__(self, slot: Slot, descriptor: int) -> None:
        self.slot = slot
        self.descriptor = descriptor

    def release(self) -> None:
        if self.descriptor >= 0:
            os.close(self.descriptor)
            self.descriptor = -1


def try_lock(number: int) -> SlotLock | None:
    """Hold slot ``number`` if nobody does (non-blocking)."""
    directory = slots_directory()
    _ensure_directory(directory)
    descriptor = _open(directory / f"{number}.lock")
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(descriptor)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return None
        raise
    return SlotLock(Slot(number), descriptor)


def claim(dirty: Callable[[Slot], bool] | None = None, preferred: int | None = None, from_top: bool = False) -> SlotLock:
    """The lowest free slot (the highest with ``from_top``; ``preferred`` first); a slot ``dirty`` says still has
    a killed sandbox's network is skipped, so its owner's ``sandbox down`` can still remove it.

    Sandboxes without hosts take slots from the top, so a sandbox with hosts started alone next to them
    still gets slot 0 (10.0.0.0/16, the addresses 1.x users and older configurations expect).
    """
    order = list(range(SLOTS))[::-1] if from_top else list(range(SLOTS))
    if preferred is not None and 0 <= preferred < SLOTS:
        order.remove(preferred)
        order.insert(0, preferred)
    for number in order:
        lock = try_lock(number)
        if lock is None:
            continue
        if dirty is not None and dirty(lock.slot):
            lock.release()
            continue
        return lock
    raise SlotsExhausted(
        f"all {SLOTS} sandbox slots are taken (see {slots_directory()}): stop a sandbox with `fabulaws sandbox down`"
    )
