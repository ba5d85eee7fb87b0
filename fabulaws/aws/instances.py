"""EC2 instance discovery by tag (read-only)."""

from __future__ import annotations

from typing import Any


def tag(resource: dict, key: str, default: str | None = None) -> str | None:
    """Value of tag ``key`` on a boto3 resource description."""
    for item in resource.get("Tags", []):
        if item["Key"] == key:
            return item["Value"]
    return default


def find_instances(ec2: Any, tags: dict[str, str], states: tuple[str, ...] = ("running",),
                   ids: list[str] | None = None) -> list[dict]:
    """Instances carrying every tag in ``tags`` and in one of ``states`` (among ``ids`` if given); all pages."""
    filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in tags.items()]
    filters.append({"Name": "instance-state-name", "Values": list(states)})
    if ids is not None:
        filters.append({"Name": "instance-id", "Values": list(ids)})
    pages = ec2.get_paginator("describe_instances").paginate(Filters=filters)
    return [instance for page in pages for reservation in page["Reservations"] for instance in reservation["Instances"]]
