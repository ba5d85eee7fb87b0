"""Tags: the one conversion between a ``{key: value}`` dict and AWS's ``[{"Key": k, "Value": v}]`` list."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .types import Client


def to_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """``{"role": "web"}`` -> ``[{"Key": "role", "Value": "web"}]`` (order kept)."""
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def to_dict(items: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """AWS's tag list (extra fields such as Auto Scaling's ``PropagateAtLaunch`` ignored) -> ``{key: value}``."""
    return {item["Key"]: item["Value"] for item in items or ()}


def of(resource: Mapping[str, Any]) -> dict[str, str]:
    """The tags of a described resource (an instance, image, subnet, group...) as a dict."""
    return to_dict(resource.get("Tags"))


def tag(resource: Mapping[str, Any], key: str, default: str | None = None) -> str | None:
    """Value of tag ``key`` on a described resource, else ``default``."""
    return of(resource).get(key, default)


def specifications(tags: Mapping[str, str], *kinds: str) -> list[dict[str, Any]]:
    """TagSpecifications tagging each resource kind (``instance``, ``volume``...) at creation; [] without tags."""
    return [{"ResourceType": kind, "Tags": to_list(tags)} for kind in kinds] if tags else []


def add(ec2: Client, resource_ids: list[str], tags: Mapping[str, str]) -> None:
    """CreateTags: add (or overwrite) ``tags`` on EC2 resources. Idempotent."""
    if tags:
        ec2.create_tags(Resources=list(resource_ids), Tags=to_list(tags))
