"""An instance's console output (where a booting Ubuntu prints its SSH host keys)."""

from __future__ import annotations

from .errors import unless_gone
from .types import Client


def output(ec2: Client, instance_id: str) -> str:
    """GetConsoleOutput (latest), as EC2 returns it (often base64); '' while there is none, or while EC2 does
    not know the instance yet (just launched). Any other error goes through. Read-only."""
    found = unless_gone(lambda: ec2.get_console_output(InstanceId=instance_id, Latest=True))
    return (found or {}).get("Output", "") or ""
