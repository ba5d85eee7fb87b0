"""EBS volumes as sparse files, attached to hosts through loop devices."""

from __future__ import annotations

import threading
from pathlib import Path

from .system import quiet, run


class VolumeStore:
    """``<run>/volumes/<volume-id>.img`` and the loop device of each attached volume."""

    def __init__(self, root: Path) -> None:
        self.root = root / "volumes"
        self.root.mkdir(parents=True, exist_ok=True)
        self.loops: dict[str, str] = {}
        self.lock = threading.Lock()

    def path(self, volume_id: str) -> Path:
        return self.root / f"{volume_id}.img"

    def create(self, volume_id: str, size_gb: int, source: Path | None = None) -> None:
        """A sparse file of ``size_gb`` (or a sparse copy of ``source``, a snapshot)."""
        if self.path(volume_id).exists():
            return
        if source is not None and source.exists():
            run(["cp", "--sparse=always", str(source), str(self.path(volume_id))], timeout=600)
        else:
            run(["truncate", "-s", f"{max(1, int(size_gb))}G", str(self.path(volume_id))])

    def loop(self, volume_id: str) -> str:
        """The volume's loop device, set up on first use."""
        with self.lock:
            if volume_id not in self.loops:
                self.create(volume_id, 1)
                self.loops[volume_id] = run(["losetup", "--find", "--show", str(self.path(volume_id))]).stdout.strip()
            return self.loops[volume_id]

    def release(self, volume_id: str) -> None:
        with self.lock:
            loop = self.loops.pop(volume_id, None)
        if loop:
            quiet(["losetup", "-d", loop])

    def delete(self, volume_id: str) -> None:
        self.release(volume_id)
        self.path(volume_id).unlink(missing_ok=True)

    def snapshot(self, volume_id: str, destination: Path) -> None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        run(["sync"])
        run(["cp", "--sparse=always", str(self.path(volume_id)), str(destination)], timeout=600)


def loop_leftovers(root: Path) -> list[str]:
    """Loop devices backed by files under ``root``."""
    found = []
    for line in run(["losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE"], check=False).stdout.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[1].strip().startswith(str(root)):
            found.append(parts[0])
    return found
