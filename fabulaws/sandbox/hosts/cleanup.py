"""Find and remove everything the sandbox's hosts left behind, even after ``kill -9`` of the sandbox.

Everything lives under the run directory or carries the ``fab`` prefix: host
processes (their root is under the run directory), haproxy and git daemons
(pid files), mounts, loop devices, network namespaces, the bridge, NAT rules.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

from . import network
from .proxies import haproxy_leftovers
from .system import quiet, run
from .volumes import loop_leftovers


def host_processes(run_dir: Path) -> list[int]:
    """Processes whose root directory is a host's root under ``run_dir`` (or that live in a host namespace)."""
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
    for line in run(["ip", "netns", "list"], check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(network.NAMESPACE_PREFIX):
            pids.update(int(p) for p in run(["ip", "netns", "pids", name], check=False).stdout.split())
    for pid_file in run_dir.glob("hosts/*/unshare.pid"):
        try:
            pids.add(int(pid_file.read_text()))
        except ValueError:
            pass
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


def leftovers(run_dir: Path) -> list[str]:
    """Everything that exists now and that ``clean`` would remove (empty when the sandbox left nothing)."""
    found = [f"process {pid}" for pid in host_processes(run_dir)]
    found += haproxy_leftovers(run_dir)
    found += [f"process {pid} (git daemon or apt cache)" for pid in daemon_pids(run_dir) if not any(f" {pid} " in f" {x} " for x in found)]
    found += [f"mount {point}" for point in mounts(run_dir)]
    found += [f"loop device {device}" for device in loop_leftovers(run_dir)]
    found += network.leftovers()
    return found


def clean(run_dir: Path) -> None:
    """Remove every host, process, mount, loop device and network object; then the run directory."""
    for pid in host_processes(run_dir) + daemon_pids(run_dir):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while (host_processes(run_dir) or daemon_pids(run_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for point in sorted(mounts(run_dir), key=len, reverse=True):
        if not quiet(["umount", point]):
            quiet(["umount", "-l", point])
    for device in loop_leftovers(run_dir):
        quiet(["losetup", "-d", device])
    for line in run(["ip", "netns", "list"], check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(network.NAMESPACE_PREFIX):
            quiet(["ip", "netns", "del", name])
    for line in run(["ip", "-o", "link", "show"], check=False).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(network.VETH_PREFIX):
            quiet(["ip", "link", "del", name])
    network.teardown()
    if not mounts(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)
