"""Running system commands for the sandbox (as root), with errors that say what failed."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence

log = logging.getLogger("fabulaws.sandbox.hosts")


class HostError(RuntimeError):
    """A system command the sandbox needed failed."""


def run(command: Sequence[str], check: bool = True, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``command`` (a list, never a shell string); HostError with its stderr if it fails and ``check``."""
    result = subprocess.run(list(command), capture_output=True, text=True, input=input, timeout=timeout)
    if check and result.returncode != 0:
        raise HostError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    return result


def quiet(command: Sequence[str]) -> bool:
    """Run a clean-up command whose failure is expected when there is nothing to clean; True if it worked."""
    return run(command, check=False).returncode == 0
