"""The moto backends the control loops act on (only regions that exist)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from moto.backends import get_backend

ACCOUNT = "123456789012"  # moto's default account


def regional(service: str) -> Iterator[tuple[str, Any]]:
    """(region, backend) for every region of ``service`` that has been used; never creates one."""
    per_account = get_backend(service)  # type: ignore[call-overload]  # any service name
    if ACCOUNT not in dict.keys(per_account):
        return
    yield from list(dict.items(per_account[ACCOUNT]))


def backend(service: str, region: str) -> Any:
    """The backend of ``service`` in ``region`` (created if needed)."""
    return get_backend(service)[ACCOUNT][region]  # type: ignore[call-overload]  # any service name
