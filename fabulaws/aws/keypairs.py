"""EC2 key pairs: the temporary ones a run creates to reach a new server, and their deletion."""

from __future__ import annotations

from .errors import unless_gone
from .types import Client


def create(ec2: Client, name: str) -> str:
    """CreateKeyPair ``name``; its private key material (PEM). Keep it secret: never log it."""
    return ec2.create_key_pair(KeyName=name)["KeyMaterial"]


def find_names(ec2: Client, prefix: str = "") -> list[str]:
    """Names of the key pairs that start with ``prefix``. Read-only."""
    return [pair["KeyName"] for pair in ec2.describe_key_pairs()["KeyPairs"] if pair["KeyName"].startswith(prefix)]


def delete(ec2: Client, name: str, missing_ok: bool = False) -> None:
    """DeleteKeyPair ``name``; ``missing_ok``: a pair already gone is fine (by error code), other errors go through."""
    if missing_ok:
        unless_gone(lambda: ec2.delete_key_pair(KeyName=name))
    else:
        ec2.delete_key_pair(KeyName=name)
