"""A caching apt proxy (apt-cacher-ng) in the slot's router namespace: hosts download each Debian package once.

The cache lives in ~/.cache/fabulaws/apt so it survives between sandbox runs.
Without apt-cacher-ng installed, hosts reach the Debian archive directly.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .network import SERVICES_ADDRESS

PORT = 3143  # not 3142: a system apt-cacher-ng may listen there on every address
BINARY = "/usr/sbin/apt-cacher-ng"


def cache_directory() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fabulaws" / "apt"


class AptCache:
    def __init__(self, run_dir: Path, prefix: list[str] | None = None) -> None:
        self.prefix = prefix or []  # e.g. ``ip netns exec fabsbx1``
        self.directory = run_dir / "apt-cache"
        self.process: subprocess.Popen | None = None

    @property
    def available(self) -> bool:
        return Path(BINARY).exists()

    @property
    def proxy(self) -> str:
        return f"http://{SERVICES_ADDRESS}:{PORT}"

    def start(self) -> bool:
        """Start the proxy; False (hosts go direct) when apt-cacher-ng is not installed."""
        if not self.available:
            return False
        self.directory.mkdir(parents=True, exist_ok=True)
        cache = cache_directory()
        cache.mkdir(parents=True, exist_ok=True)
        (self.directory / "acng.conf").write_text(
            f"CacheDir: {cache}\nLogDir: {self.directory}\nPort: {PORT}\nBindAddress: {SERVICES_ADDRESS}\n"
            f"ConnectProto: v4\nPidFile: {self.directory / 'pid'}\nSocketPath: {self.directory / 'socket'}\n"
            "SupportDir: /usr/lib/apt-cacher-ng\nExThreshold: 4\n"
        )
        self.process = subprocess.Popen(
            [*self.prefix, BINARY, "-c", str(self.directory), "ForeGround=1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return True

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def apt_configuration(self) -> str:
        return f'Acquire::http::Proxy "{self.proxy}";\nAcquire::http::Timeout "30";\nAcquire::Retries "3";\n'

