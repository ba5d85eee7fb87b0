"""SSH host keys: recorded on first contact in the project's known_hosts, verified afterwards.

1.x disabled host-key checking everywhere. Here a new instance's keys come from
its console output (published there by cloud-init, and by the sandbox) when
available; otherwise the first key seen is recorded, with a warning line. A key
that differs from the recorded one is refused: never silently accepted.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import paramiko

from ..aws import console

if TYPE_CHECKING:
    from fabulaws.aws.types import Client

log = logging.getLogger("fabulaws.hostkeys")
KEYS_BLOCK = re.compile(r"-----BEGIN SSH HOST KEY KEYS-----\s*\n(.*?)-----END SSH HOST KEY KEYS-----", re.S)


def known_hosts_path() -> Path:
    return Path.cwd() / ".fabulaws" / "known_hosts"


def console_text(output: str) -> str:
    """GetConsoleOutput's ``Output`` is base64-encoded (boto3 leaves it so); plain text passes unchanged."""
    try:
        return base64.b64decode(output, validate=True).decode("utf-8", errors="replace")
    except (ValueError, binascii.Error):
        return output


def _pkey(key_type: str, key_base64: str) -> paramiko.PKey:
    return paramiko.PKey.from_type_string(key_type, base64.b64decode(key_base64))


def _drop(keys: paramiko.HostKeys, host: str) -> None:
    while host in keys:  # paramiko deletes one entry (key type) at a time
        del keys[host]


def keys_from_console(output: str) -> list[tuple[str, str]]:
    """(type, base64) pairs from a console output's "SSH HOST KEY KEYS" block (cloud-init's format)."""
    match = KEYS_BLOCK.search(output or "")
    if not match:
        return []
    keys = []
    for line in match.group(1).splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(("ssh-", "ecdsa-")):
            keys.append((parts[0], parts[1]))
    return keys


class KnownHosts:
    """The project's known_hosts file, shared by threads."""

    _lock = threading.Lock()

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or known_hosts_path()

    def load(self) -> paramiko.HostKeys:
        keys = paramiko.HostKeys()
        if self.path.exists():
            keys.load(str(self.path))
        return keys

    def add(self, host: str, key_type: str, key_base64: str) -> None:
        self._update(lambda keys: keys.add(host, key_type, _pkey(key_type, key_base64)))

    def forget(self, host: str) -> None:
        """Drop a host's keys (its address now belongs to a new instance)."""
        self._update(lambda keys: _drop(keys, host))

    def record_console(self, host: str, console_output: str) -> int:
        """Trust the keys an instance published on its console for ``host`` (replacing older ones, in one write)."""
        found = keys_from_console(console_output)

        def replace(keys: paramiko.HostKeys) -> None:
            _drop(keys, host)
            for key_type, key_base64 in found:
                keys.add(host, key_type, _pkey(key_type, key_base64))

        if found:
            self._update(replace)
        return len(found)

    def _update(self, change) -> None:
        """Read, change and write the file under the lock; written to a temporary file and renamed, so a
        connection loading it meanwhile (without the lock) never sees it half-written."""
        with self._lock:
            keys = self.load()
            change(keys)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            keys.save(str(temporary))
            temporary.chmod(0o600)
            os.replace(temporary, self.path)

    def record_instance(self, ec2: Client, instance_id: str, host: str) -> bool:
        """Trust the keys EC2 instance ``instance_id`` published on its console for ``host``; False while it has
        published none (still booting, an image that does not print them, or EC2 does not know the instance yet)."""
        return self.record_console(host, console_text(console.output(ec2, instance_id))) > 0

    def policy(self) -> paramiko.MissingHostKeyPolicy:
        return RecordFirstContact(self)


class RecordFirstContact(paramiko.MissingHostKeyPolicy):
    """Unknown host: record its key (with a warning). Known host with another key: paramiko refuses."""

    def __init__(self, known: KnownHosts) -> None:
        self.known = known

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        log.warning("recording the SSH host key of %s on first contact (%s %s): it was not published on the console",
                    hostname, key.get_name(), key.fingerprint)
        self.known.add(hostname, key.get_name(), key.get_base64())
