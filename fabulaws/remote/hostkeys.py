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
import re
import threading
from pathlib import Path
from typing import Any

import paramiko
from botocore.exceptions import ClientError

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
        with self._lock:
            keys = self.load()
            key = paramiko.PKey.from_type_string(key_type, base64.b64decode(key_base64))
            keys.add(host, key_type, key)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            keys.save(str(self.path))
            self.path.chmod(0o600)

    def forget(self, host: str) -> None:
        """Drop a host's keys (its address now belongs to a new instance)."""
        with self._lock:
            keys = self.load()
            if host in keys:
                del keys[host]
                keys.save(str(self.path))

    def record_console(self, host: str, console_output: str) -> int:
        """Trust the keys an instance published on its console for ``host`` (replacing older ones)."""
        keys = keys_from_console(console_output)
        if keys:
            self.forget(host)
            for key_type, key_base64 in keys:
                self.add(host, key_type, key_base64)
        return len(keys)

    def record_instance(self, ec2: Any, instance_id: str, host: str) -> bool:
        """Trust the keys EC2 instance ``instance_id`` published on its console for ``host``; False while it has
        published none (still booting, or an image that does not print them)."""
        try:
            output = ec2.get_console_output(InstanceId=instance_id, Latest=True).get("Output", "")
        except ClientError:
            return False
        return self.record_console(host, console_text(output)) > 0

    def policy(self) -> paramiko.MissingHostKeyPolicy:
        return RecordFirstContact(self)


class RecordFirstContact(paramiko.MissingHostKeyPolicy):
    """Unknown host: record its key (with a warning). Known host with another key: paramiko refuses."""

    def __init__(self, known: KnownHosts) -> None:
        self.known = known

    def missing_host_key(self, client: Any, hostname: str, key: paramiko.PKey) -> None:
        log.warning("recording the SSH host key of %s on first contact (%s %s): it was not published on the console",
                    hostname, key.get_name(), key.fingerprint)
        self.known.add(hostname, key.get_name(), key.get_base64())
