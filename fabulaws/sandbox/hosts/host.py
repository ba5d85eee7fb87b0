"""One sandbox host: an overlay root over its image's layers, its own namespaces, PID 1 = guest_init.

Layout under ``<run>/hosts/<instance-id>/``: ``upper`` (the instance's own
layer, what CreateImage copies), ``work``, ``root`` (the merged mount), ``seed``
(bind-mounted read-only at ``/.fabulaws``: the init program and the instance's
settings), ``console.log`` (what GetConsoleOutput returns) and ``unshare.pid``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .network import Interface, Network
from .system import HostError, log, quiet, run

GUEST_INIT = Path(__file__).with_name("guest_init.py")
STOP_TIMEOUT = 60.0


@dataclass
class HostSpec:
    """What a host is made from; gathered from moto under the sandbox lock."""

    instance_id: str
    hostname: str
    interface: Interface
    image_id: str
    authorized_key: str | None
    devices: dict[str, str] = field(default_factory=dict)  # /dev/sdf -> /dev/loop3
    memory_mib: int | None = None  # the instance type's: what the host's /proc/meminfo reports


class Host:
    """Start, stop and run commands in one host. Not thread-safe: the manager serialises calls per host."""

    def __init__(self, directory: Path, spec: HostSpec, network: Network) -> None:
        self.directory = directory
        self.spec = spec
        self.network = network

    @property
    def root(self) -> Path:
        return self.directory / "root"

    @property
    def upper(self) -> Path:
        return self.directory / "upper"

    @property
    def console(self) -> Path:
        return self.directory / "console.log"

    def start(self, lower_dirs: list[Path], resolv_conf: str, apt_proxy: str | None = None) -> None:
        """Mount the root, plug the network and boot (returns once PID 1 runs; services start after)."""
        if self.unshare_pid():
            return
        for name in ("upper", "work", "root", "seed"):
            (self.directory / name).mkdir(parents=True, exist_ok=True)
        lower = ":".join(str(path) for path in lower_dirs)
        if not os.path.ismount(self.root):
            run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lower},upperdir={self.upper},workdir={self.directory / 'work'}", str(self.root)])
        shutil.copy(GUEST_INIT, self.directory / "seed" / "init.py")
        (self.directory / "seed" / "instance.json").write_text(json.dumps(self._settings()))
        (self.root / ".fabulaws").mkdir(exist_ok=True)
        run(["mount", "--bind", "-o", "ro", str(self.directory / "seed"), str(self.root / ".fabulaws")])
        resolv = self.root / "etc" / "resolv.conf"
        if resolv.is_symlink():
            resolv.unlink()
        resolv.write_text(resolv_conf)
        proxy = self.root / "etc/apt/apt.conf.d/01fabulaws-sandbox-proxy"
        if apt_proxy:
            proxy.write_text(apt_proxy)
        elif proxy.exists():
            proxy.unlink()
        namespace = self.network.plug(self.spec.instance_id, self.spec.interface)
        console = open(self.console, "ab")
        process = subprocess.Popen(
            ["ip", "netns", "exec", namespace, "unshare", "--pid", "--mount", "--uts", "--ipc", "--fork", "--kill-child",
             "chroot", str(self.root), "/usr/bin/python3", "/.fabulaws/init.py"],
            stdout=console,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.process = process  # reaped in stop()
        (self.directory / "unshare.pid").write_text(str(process.pid))
        log.info("host %s booting (%s)", self.spec.instance_id, self.spec.interface.address)

    def _settings(self) -> dict:
        devices = []
        for name, loop in sorted(self.spec.devices.items()):
            number = os.stat(loop).st_rdev
            devices.append({"name": name, "major": os.major(number), "minor": os.minor(number)})
        return {
            "instance_id": self.spec.instance_id,
            "hostname": self.spec.hostname,
            "address": self.spec.interface.address,
            "authorized_key": self.spec.authorized_key,
            "devices": devices,
            "memory_mib": self.spec.memory_mib,
        }

    def unshare_pid(self) -> int | None:
        try:
            pid = int((self.directory / "unshare.pid").read_text())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def init_pid(self) -> int | None:
        """PID (seen from outside) of the host's PID 1."""
        pid = self.unshare_pid()
        if pid is None:
            return None
        children = Path(f"/proc/{pid}/task/{pid}/children")
        try:
            first = children.read_text().split()
        except OSError:
            return None
        return int(first[0]) if first else None

    def stop(self) -> None:
        """Stop the services (SIGTERM to PID 1), then unmount and unplug; the instance's layer stays."""
        init = self.init_pid()
        unshare = self.unshare_pid()
        if init:
            os.kill(init, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while unshare and _alive(unshare) and time.monotonic() < deadline:
            time.sleep(0.1)
        if unshare and _alive(unshare):
            os.killpg(unshare, signal.SIGKILL)
        if getattr(self, "process", None) is not None:
            self.process.wait(timeout=10)
        (self.directory / "unshare.pid").unlink(missing_ok=True)
        for mount in (self.root / ".fabulaws", self.root):
            if os.path.ismount(mount):
                if not quiet(["umount", str(mount)]):
                    run(["umount", "-l", str(mount)])
        self.network.unplug(self.spec.instance_id)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def execute(self, command: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
        """Run ``command`` inside the host (all its namespaces, its root)."""
        init = self.init_pid()
        if init is None:
            raise HostError(f"host {self.spec.instance_id} is not running")
        return run(["nsenter", "-t", str(init), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--", *command], timeout=timeout)

    def add_device(self, name: str, loop: str) -> None:
        """Hot-plug a volume: its device node (and the sd/xvd twin) appear in the running host."""
        number = os.stat(loop).st_rdev
        self.spec.devices[name] = loop
        if self.init_pid() is None:
            return
        self.execute(["mknod", "-m", "660", name, "b", str(os.major(number)), str(os.minor(number))])
        if twin_device(name) != name:
            self.execute(["ln", "-sf", os.path.basename(name), twin_device(name)])

    def remove_device(self, name: str) -> None:
        self.spec.devices.pop(name, None)
        if self.init_pid() is not None:
            self.execute(["rm", "-f", name, twin_device(name)])


def twin_device(name: str) -> str:
    """``/dev/sdf`` <-> ``/dev/xvdf``: the name Xen-based instances show for a requested device.

    (guest_init.py has the same rule: it runs inside the host and cannot import this package.)
    """
    if name.startswith("/dev/sd"):
        return name.replace("/dev/sd", "/dev/xvd", 1)
    if name.startswith("/dev/xvd"):
        return name.replace("/dev/xvd", "/dev/sd", 1)
    return name


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid)


def _state(pid: int) -> str:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "zombie"
    for line in status.splitlines():
        if line.startswith("State:"):
            return line.lower()
    return ""
