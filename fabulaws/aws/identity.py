"""Who the credentials belong to (STS), for saying which account a task is about to change."""

from __future__ import annotations

from .types import Client


def find_account(sts: Client) -> str:
    """The 12-digit account id of the caller (STS GetCallerIdentity; needs no permission). Read-only."""
    return sts.get_caller_identity()["Account"]
