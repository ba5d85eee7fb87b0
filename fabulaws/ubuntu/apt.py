"""apt: mirror, update (retried, 1.x issue #40), install and upgrade, non-interactively."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..errors import DeployError
from ..remote.commands import join, sudo
from ..remote.files import exists, sed

if TYPE_CHECKING:
    from fabric import Connection

APT = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y", "-o", "Dpkg::Options::=--force-confdef",
       "-o", "Dpkg::Options::=--force-confold"]
UPDATE_TIMEOUT = 180  # seconds; a hung download (seen behind caching proxies) is killed and retried


def distribution(cxn: Connection) -> tuple[str, str]:
    """('Ubuntu', '24.04') or ('Debian', '12')."""
    result = cxn.run("lsb_release -is; lsb_release -rs", hide=True)
    name, release = (result.stdout.split() + ["", ""])[:2]
    return name, release


def update(cxn: Connection, attempts: int = 4) -> None:
    """apt-get update, retried with a growing pause instead of aborting on a flaky mirror.

    A retry, not a wait (so not a fabulaws.waits.Wait): each attempt does the work again rather than look at a
    state, and is bounded on the server (``UPDATE_TIMEOUT``); ``attempts`` bound the whole, with 5 s x attempt
    between them.
    """
    for attempt in range(1, attempts + 1):
        # timeout(1) runs on the server, so a hung apt-get dies there and releases its lock
        command = join("timeout", "--kill-after=10", str(UPDATE_TIMEOUT), *APT, "-o", "Acquire::http::Timeout=30", "update")
        result = sudo(cxn, command, hide=True, warn=True)
        if result.ok and "Err:" not in result.stdout:
            return
        if attempt == attempts:
            raise DeployError(f"apt-get update failed {attempts} times on {cxn.host}: {(result.stdout + result.stderr).strip()[-500:]}")
        time.sleep(5 * attempt)


def install(cxn: Connection, packages: list[str] | tuple[str, ...]) -> None:
    if packages:
        sudo(cxn, join(*APT, "install", "--no-install-recommends", *packages), hide=True)


def upgrade(cxn: Connection) -> None:
    sudo(cxn, join(*APT, "dist-upgrade"), hide=True)


def set_mirror(cxn: Connection, mirror: str | None, region: str) -> bool:
    """Use ``mirror`` (may contain ``{region}``) instead of ``<region>.ec2.archive.ubuntu.com`` (Ubuntu images only)."""
    if not mirror:
        return False
    target = mirror.format(region=region)
    changed = False
    for path in ("/etc/apt/sources.list", "/etc/apt/sources.list.d/ubuntu.sources"):  # flat and deb822 (24.04)
        if exists(cxn, path):
            changed |= sed(cxn, path, f"{region}\\.ec2\\.archive\\.ubuntu\\.com", target, "g")
    return changed
