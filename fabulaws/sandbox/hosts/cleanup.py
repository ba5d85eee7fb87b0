"""Find and remove what one sandbox's hosts left behind, even after ``kill -9`` of the sandbox.

Only its own: host processes (their root is under its run directory, or they live in its slot's
namespaces), haproxy, git and apt-cache daemons (pid files under the run directory), mounts and loop
devices under the run directory, and its slot's namespaces, link and firewall rules. Other sandboxes
running on the machine are not touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

from ..slots import Slot
from . import network
from .proxies import haproxy_leftovers
from .system import quiet, run
from .volumes import loop_leftovers


def host_processes(run_dir: Path, slot: Slot | None) -> list[int]:
    """Processes whose root directory is a host's root under ``run_dir``, or that live in the slot's namespaces."""
    pids = set()
    hosts = str(run_dir / "hosts")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "root").startswith(hosts):
                pids.add(int(entry.name))
        except OSError:
            continue
    if slot is not None:
        for name in network.namespaces():
            if name == slot.router or name.startswith(slot.host_prefix):
                pids.update(int(p) for p in run(["ip", "netns", "pids", name], check=False).stdout.split())
    for pid_file in run_dir.glob("hosts/*/unshare.pid"):
        try:
            pids.add(int(pid_file.read_text()))
        except ValueError:
            pass
    pids.discard(os.getpid())
    return sorted(pid for pid in pids if Path(f"/proc/{pid}").exists())


def daemon_pids(run_dir: Path) -> list[int]:
    pids = []
    for pid_file in [*run_dir.glob("haproxy/*/haproxy.pid"), run_dir / "git" / "daemon.pid", run_dir / "apt-cache" / "pid"]:
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if Path(f"/proc/{pid}").exists():
            pids.append(pid)
    return pids


def mounts(run_dir: Path) -> list[str]:
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(str(run_dir)):
            found.append(point)
    return found


def leftovers(run_dir: Path, slot: Slot | None) -> list[str]:
    """Everything of this sandbox that exists now and that ``clean`` would remove (empty when it left nothing)."""
    found = [f"process {pid}" for pid in host_processes(run_dir, slot)]
    found += haproxy_leftovers(run_dir)
    found += [f"process {pid} (git daemon or apt cache)" for pid in daemon_pids(run_dir) if not any(f" {pid} " in f" {x} " for x in found)]
    found += [f"mount {point}" for point in mounts(run_dir)]
    found += [f"loop device {device}" for device in loop_leftovers(run_dir)]
    if slot is not None:
        found += network.leftovers(slot)
    return found


def clean(run_dir: Path, slot: Slot | None) -> None:
    """Remove this sandbox's hosts, processes, mounts, loop devices and (with ``slot``) network; then the run directory.

    ``slot`` is None when another sandbox holds the slot now: its network is left alone.
    """
    for pid in host_processes(run_dir, slot) + daemon_pids(run_dir):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while (host_processes(run_dir, slot) or daemon_pids(run_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for point in sorted(mounts(run_dir), key=len, reverse=True):
        if not quiet(["umount", point]):
            quiet(["umount", "-l", point])
    for device in loop_leftovers(run_dir):
        quiet(["losetup", "-d", device])
    if slot is not None:
        network.teardown(slot)
    if not mounts(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)


def dirty(slot: Slot) -> bool:
    """A killed sandbox of this slot left its router namespace (its ``sandbox down`` has not run yet)."""
    return Path("/run/netns", slot.router).exists()
