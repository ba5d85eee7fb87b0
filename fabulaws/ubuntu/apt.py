"""apt: mirror, update (retried, 1.x issue #40), install and upgrade, non-interactively; signed third-party sources."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import DeployError
from ..remote.commands import join, sudo
from ..remote.files import exists, put, sed

if TYPE_CHECKING:
    from fabric import Connection

APT = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y", "-o", "Dpkg::Options::=--force-confdef",
       "-o", "Dpkg::Options::=--force-confold"]
UPDATE_TIMEOUT = 180  # seconds; a hung download (seen behind caching proxies) is killed and retried
KEYRINGS = "/etc/apt/keyrings"
KEY_DOWNLOAD_TIMEOUT = 60  # seconds curl may take for a repository's key


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


@dataclass(frozen=True)
class SignedRepository:
    """A third-party apt source whose key only that source trusts (``signed-by=``), never apt's global keyring.

    + name: file names, ``/etc/apt/keyrings/<name>.asc`` and ``/etc/apt/sources.list.d/<name>.list``
    + title: who publishes it, for messages ("New Relic")
    + suite: the distribution part of the source; None: the server's release codename
    + fingerprint: the key's primary fingerprint, checked before apt trusts the key (None: not checked)
    """

    name: str
    title: str
    key_url: str
    url: str
    suite: str | None = None
    components: str = "main"
    fingerprint: str | None = None

    @property
    def keyring(self) -> str:
        return f"{KEYRINGS}/{self.name}.asc"  # an armored key: apt reads .asc keyrings as they are

    @property
    def source(self) -> str:
        return f"/etc/apt/sources.list.d/{self.name}.list"

    def source_line(self, codename: str, architecture: str) -> str:
        return f"deb [arch={architecture} signed-by={self.keyring}] {self.url} {self.suite or codename} {self.components}\n"


def key_fingerprints(colons: str) -> list[str]:
    """The primary keys' fingerprints in ``gpg --with-colons`` output (the ``fpr`` line right after each ``pub``)."""
    found, after_pub = [], False
    for line in colons.splitlines():
        fields = line.split(":")
        if fields[0] == "pub":
            after_pub = True
        elif fields[0] == "fpr" and after_pub and len(fields) > 9:
            found.append(fields[9].upper())
            after_pub = False
    return found


def add_signed_repository(cxn: Connection, repository: SignedRepository) -> str:
    """The repository's key into /etc/apt/keyrings (checked against its pinned fingerprint), then its source.

    The key goes first and only once it is verified: a failed download or a wrong key leaves apt as it was.
    Returns the release codename. Idempotent.
    """
    codename = cxn.run("lsb_release -cs", hide=True).stdout.strip()
    architecture = cxn.run("dpkg --print-architecture", hide=True).stdout.strip()
    if not codename or not architecture:
        raise DeployError(f"{cxn.host}: cannot tell the release codename or architecture for {repository.title}'s repository")
    downloaded = repository.keyring + ".new"
    sudo(cxn, join("install", "-d", "-m", "0755", KEYRINGS), hide=True)
    try:
        fetched = sudo(cxn, join("curl", "-fsSL", "--max-time", str(KEY_DOWNLOAD_TIMEOUT), "-o", downloaded,
                                 repository.key_url), hide=True, warn=True)
        if not fetched.ok:
            raise DeployError(f"{cxn.host}: cannot download {repository.title}'s apt key from {repository.key_url}: "
                              f"{fetched.stderr.strip() or f'curl exit status {fetched.exited}'}")
        if repository.fingerprint:
            _check_fingerprint(cxn, repository, downloaded)
        sudo(cxn, join("install", "-m", "0644", "-o", "root", "-g", "root", downloaded, repository.keyring), hide=True)
    finally:
        sudo(cxn, join("rm", "-f", downloaded), hide=True, warn=True)
    put(cxn, repository.source_line(codename, architecture), repository.source)
    return codename


def _check_fingerprint(cxn: Connection, repository: SignedRepository, path: str) -> None:
    # a throwaway GnuPG home: reading a key file must not create or change root's keyrings
    script = (f"home=$(mktemp -d) && gpg --homedir \"$home\" --batch --with-colons --show-keys {join(path)}; "
              "status=$?; rm -rf \"$home\"; exit $status")
    shown = sudo(cxn, script, hide=True, warn=True)
    found = key_fingerprints(shown.stdout) if shown.ok else []
    wanted = repository.fingerprint.replace(" ", "").upper() if repository.fingerprint else ""
    if found != [wanted]:
        raise DeployError(f"{cxn.host}: {repository.title}'s apt key from {repository.key_url} is not the pinned one: "
                          f"expected fingerprint {wanted}, got {', '.join(found) or 'no key'}; apt was left as it was")
