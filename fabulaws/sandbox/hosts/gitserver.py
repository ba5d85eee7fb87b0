"""A git server in the slot's router namespace, serving the repositories under ``<run>/git`` (push allowed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .network import SERVICES_ADDRESS


class GitServer:
    """``git daemon`` on git://10.0.0.1/ in the router namespace: hosts clone from it; operators publish to
    its directory (``sandbox publish``): 10.0.0.1 is every sandbox's services address."""

    def __init__(self, root: Path, prefix: list[str] | None = None) -> None:
        self.prefix = prefix or []  # e.g. ``ip netns exec fabsbx1``
        self.root = root / "git"
        self.root.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [*self.prefix, "git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", f"--base-path={self.root}",
             f"--listen={SERVICES_ADDRESS}", f"--pid-file={self.root / 'daemon.pid'}", str(self.root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    @property
    def url(self) -> str:
        return f"git://{SERVICES_ADDRESS}/"
