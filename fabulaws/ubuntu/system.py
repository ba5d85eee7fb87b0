"""Host facts and system setup: services, application directories on the data volume, swap.

Packages are installed with services held back (``policy-rc.d``), so that no
daemon ever runs with its packaged defaults (Redis without a password, say);
each component configures its services and then starts them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import posixpath
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ..remote.commands import join, sudo
from ..remote.files import append, comment, exists, put
from ..waits import Polling, Wait, wait_for
from . import apt
from .volumes import persist_mount

if TYPE_CHECKING:
    from fabric import Connection

log = logging.getLogger(__name__)
POLICY_RC = "/usr/sbin/policy-rc.d"
INSTANCE_STORE_SWAP = ("/dev/xvdb", "/dev/xvdc")


def memory_mb(cxn: Connection) -> int:
    """Total memory in MiB as the host's /proc/meminfo says (an integer, unlike 1.x under Python 3). A sandbox
    host shows the whole machine's: size things from the instance type (aws/instances.memory_mib) instead."""
    for line in cxn.run("cat /proc/meminfo", hide=True).stdout.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError(f"{cxn.host}: no MemTotal in /proc/meminfo")


def private_ip(cxn: Connection) -> str:
    """The host's address on its private network (the source of its default route)."""
    route = cxn.run("ip -4 route get 1.1.1.1", hide=True).stdout.split()
    return route[route.index("src") + 1]


@contextlib.contextmanager
def services_held(cxn: Connection) -> Iterator[None]:
    """Within: packages install without starting their daemons."""
    put(cxn, "#!/bin/sh\n# FabulAWS: packages being installed; their services start once configured\nexit 101\n", POLICY_RC, mode="0755")
    try:
        yield
    finally:
        sudo(cxn, join("rm", "-f", POLICY_RC), hide=True, warn=True)


def install_held(cxn: Connection, packages: list[str]) -> None:
    with services_held(cxn):
        apt.install(cxn, packages)


def service(cxn: Connection, name: str, action: str, warn: bool = False) -> bool:
    """``service <name> <action>`` (systemd or SysV init alike).

    ``restart`` is a stop then a start: some init scripts' restart only stops
    (Debian 12's supervisor), and a stopped service must come up either way.
    """
    if action == "restart":
        sudo(cxn, join("service", name, "stop"), hide=True, warn=True)
        action = "start"
    return sudo(cxn, join("service", name, action), hide=True, warn=warn).ok


def await_listening(cxn: Connection, name: str, address: str, port: int, timeout: float = 30) -> None:
    """Return once ``address:port`` accepts connections; DeployError naming the service if it never does.

    ``service start`` returns before a daemon has read its configuration: a
    daemon that then refuses it would otherwise go unnoticed until a client fails.
    """
    wait_for(Wait(f"{cxn.host}: {name} listening on {address}:{port} after its start",
                  lambda: sudo(cxn, join("ss", "-ltnH", f"sport = :{port}"), hide=True, warn=True).stdout,
                  lambda listening: f"{address}:{port}" in listening, lambda listening: "not listening yet",
                  deadline=timeout), Polling.every(1.0), log.debug)


def enable(cxn: Connection, name: str) -> None:
    """Start ``name`` at boot too (images baked from this host start it)."""
    if exists(cxn, "/run/systemd/system"):
        sudo(cxn, join("systemctl", "enable", name), hide=True, warn=True)
    else:
        sudo(cxn, join("update-rc.d", name, "defaults"), hide=True, warn=True)


def bind_app_directories(cxn: Connection, directories: list[str], app_root: str, encrypted: bool) -> None:
    """Move each directory onto the data volume (under ``app_root``) and bind-mount it back; idempotent.

    Callers stop the services using a directory first (1.x only did so on Upstart hosts).
    """
    if not exists(cxn, app_root):
        raise RuntimeError(f"{cxn.host}: {app_root} does not exist; the data volume must be mounted first")
    mounts = sudo(cxn, "cat /proc/mounts", hide=True).stdout
    for directory in directories:
        directory = directory.rstrip("/") or "/"
        if f" {directory} " in mounts:
            continue
        bound = app_root.rstrip("/") + directory
        if exists(cxn, bound):
            pass
        elif exists(cxn, directory):
            sudo(cxn, f"{join('mkdir', '-p', posixpath.dirname(bound))} && {join('cp', '-a', directory, bound)}", hide=True)
            sudo(cxn, join("find", directory, "-mindepth", "1", "-delete"), hide=True)
        else:
            sudo(cxn, join("mkdir", "-p", bound), hide=True)
        sudo(cxn, f"{join('mkdir', '-p', directory)} && {join('mount', '--bind', bound, directory)}", hide=True)
        if encrypted:
            persist_mount(cxn, join("mount", "--bind", bound, directory), encrypted=True)
        else:
            persist_mount(cxn, f"{bound} {directory} none bind 0 0", encrypted=False)


SWAP_SHARE = 0.5  # of the data volume's free space, at most, for the swap file: the rest is for the data


def swap_file_size(wanted_mb: int, free_mb: int) -> tuple[int, str | None]:
    """The swap file's MiB: ``wanted_mb``, capped at SWAP_SHARE of the volume's free space; and the warning when
    capped (1.x's fallocate failed there with "No space left on device")."""
    room = int(free_mb * SWAP_SHARE)
    if wanted_mb <= room:
        return wanted_mb, None
    return room, (f"swap: {wanted_mb} MiB wanted (memory x swap_multiplier), but the data volume has {free_mb} MiB "
                  f"free; the swap file gets {room} MiB (half of it). Raise volume_sizes for more swap")


def free_mb(cxn: Connection, path: str) -> int:
    """MiB free on the file system that holds ``path``."""
    return int(cxn.run(join("df", "--output=avail", "-BM", path), hide=True).stdout.split()[-1].rstrip("M"))


def setup_swap(cxn: Connection, multiplier: float, app_root: str, memory_mb: int,
               warn: Callable[[str], None] = log.warning) -> int:
    """Swap of ``memory_mb x multiplier`` MiB: encrypted swap on instance-store disks first, then a swap file on
    the data volume (capped by its free space, with a warning).

    Returns the MiB added. Instance-store swap is encrypted with a random key at each boot (crypttab).
    ``memory_mb``: the instance type's (aws/instances.memory_mib), not /proc/meminfo's.
    """
    wanted = int(math.ceil(memory_mb * multiplier))
    added = 0
    for device in INSTANCE_STORE_SWAP:
        if wanted - added <= 0 or not sudo(cxn, join("test", "-b", device), hide=True, warn=True).ok:
            continue
        name = f"cryptswap-{posixpath.basename(device)}"
        if exists(cxn, f"/dev/mapper/{name}"):
            continue
        size = int(sudo(cxn, join("blockdev", "--getsize64", device), hide=True).stdout.strip()) // (1024 * 1024)
        sudo(cxn, join("umount", device), hide=True, warn=True)
        comment(cxn, "/etc/fstab", f"{device}[[:space:]]")
        apt.install(cxn, ["cryptsetup"])
        sudo(cxn, join("cryptsetup", "-d", "/dev/urandom", "create", name, device), hide=True)
        append(cxn, "/etc/crypttab", f"{name} {device} /dev/urandom swap")
        sudo(cxn, f"{join('mkswap', '-f', f'/dev/mapper/{name}')} && {join('swapon', f'/dev/mapper/{name}')}", hide=True)
        append(cxn, "/etc/fstab", f"/dev/mapper/{name} none swap sw 0 0")
        added += size
    remaining = wanted - added
    swap_file = posixpath.join(app_root, "swapfile")
    if remaining > 0 and not exists(cxn, swap_file):
        remaining, capped = swap_file_size(remaining, free_mb(cxn, app_root))
        if capped:
            warn(capped)
        if remaining > 0:
            sudo(cxn, f"{join('fallocate', '-l', f'{remaining}M', swap_file)} && {join('chmod', '600', swap_file)}"
                      f" && {join('mkswap', swap_file)} && {join('swapon', swap_file)}", hide=True)
            append(cxn, "/etc/fstab", f"{swap_file} none swap sw 0 0")
            added += remaining
    return added
