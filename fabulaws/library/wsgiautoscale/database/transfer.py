"""Dumps on the operator's machine: taken from a primary over SSH, encrypted with the operator's GPG key, and
loaded back; nothing secret is copied to a server (1.x exported an operator's secret key to /tmp on both).

A dump is written to a private temporary file first, so a dump that fails half-way never becomes a backup.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ....errors import DeployError
from ....remote.pipes import Piped, feed, read_into
from . import postgres

if TYPE_CHECKING:
    from fabric import Connection

CHUNK = 1 << 20


@contextlib.contextmanager
def private_directory() -> Iterator[Path]:
    """A directory only the operator can read (mode 0700), removed afterwards with what is in it."""
    path = Path(tempfile.mkdtemp(prefix="fabulaws-db-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def dump_to_file(cxn: Connection, database: str, path: Path) -> int:
    """``pg_dump -Fc`` of ``database`` on the server into ``path`` (mode 0600); its size."""
    with open(path, "wb", opener=lambda name, flags: _private(name, flags)) as out:
        return read_into(cxn, postgres.dump_command(database), out.write)


def _private(name: str, flags: int) -> int:
    return os.open(name, flags, 0o600)


def file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as source:
        while data := source.read(CHUNK):
            yield data


def restore_file(cxn: Connection, path: Path, database: str, owner: str) -> int:
    """Load the dump at ``path`` into ``database`` on the server; the bytes sent."""
    return feed(cxn, postgres.restore_command(database, owner), lambda: file_chunks(path))


def copy_between(source: Connection, source_database: str, target: Connection, database: str, owner: str) -> int:
    """``pg_dump`` on ``source`` piped through this machine into ``pg_restore`` on ``target``; the bytes copied."""
    dump = Piped(source, postgres.dump_command(source_database))
    try:
        copied = feed(target, postgres.restore_command(database, owner), dump.chunks)
        dump.finish()
    finally:
        dump.close()
    return copied


# --- the operator's GPG ---------------------------------------------------------------------------------
def gpg(*arguments: str) -> subprocess.CompletedProcess:
    """The operator's own ``gpg`` (its keyring, its agent for the passphrase); DeployError with gpg's message."""
    if shutil.which("gpg") is None:
        raise DeployError("backup_key_fingerprint is set, but gpg is not installed on this machine")
    done = subprocess.run(["gpg", "--batch", "--yes", *arguments], capture_output=True, text=True)
    if done.returncode != 0:
        detail = " ".join(done.stderr.split())[-500:]
        raise DeployError(f"gpg {arguments[0]} failed: {detail}")
    return done


def encrypt(path: Path, fingerprint: str) -> Path:
    """``path`` encrypted to the public key ``fingerprint`` (no secret key needed): ``<path>.gpg``."""
    out = path.with_name(path.name + ".gpg")
    gpg("--encrypt", "--recipient", fingerprint, "--output", str(out), str(path))
    return out


def decrypt(path: Path) -> Path:
    """``<name>.gpg`` decrypted with the operator's own secret key (gpg asks its agent for a passphrase)."""
    if shutil.which("gpg") is None:
        raise DeployError(f"{path.name} is encrypted with GPG, but gpg is not installed on this machine")
    out = path.with_name(path.name.removesuffix(".gpg"))
    # --batch would forbid the agent's passphrase prompt; gpg still never reads our stdin for it
    done = subprocess.run(["gpg", "--yes", "--output", str(out), "--decrypt", str(path)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        detail = " ".join(done.stderr.split())[-500:]
        raise DeployError(f"gpg --decrypt {path.name} failed (is the secret key of the backup's recipient in your "
                          f"keyring?): {detail}")
    return out
