"""Images (AMIs): find, create, wait for, deregister; and the snapshots an image is made of."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from ..waits import Polling, Wait, wait_for
from . import tags as tagging
from .errors import unless_gone
from .types import Client


def find_image(ec2: Client, image_id: str) -> dict | None:
    """The image ``image_id`` (DescribeImages), or None when there is no such image. Read-only."""
    found = unless_gone(lambda: ec2.describe_images(ImageIds=[image_id])["Images"])
    return found[0] if found else None


def find_owned(ec2: Client, tags: Mapping[str, str] | None = None, name: str | None = None) -> list[dict]:
    """Images this account owns, carrying every tag in ``tags`` (and called ``name``, if given). Read-only."""
    filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in (tags or {}).items()]
    if name is not None:
        filters.append({"Name": "name", "Values": [name]})
    return ec2.describe_images(Owners=["self"], Filters=filters)["Images"]


def snapshots(image: Mapping[str, Any]) -> list[str]:
    """The EBS snapshot ids an image is made of (deregistering it leaves them behind)."""
    return [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("SnapshotId")]


def create(ec2: Client, instance_id: str, name: str, no_reboot: bool = False) -> str:
    """CreateImage of an instance (its volumes too); the new image's id (pending until it is available)."""
    return ec2.create_image(InstanceId=instance_id, Name=name, NoReboot=no_reboot)["ImageId"]


IMAGE_POLLING = Polling(1.0, 15.0)


def wait_available(ec2: Client, image_id: str, timeout: float, polling: Polling = IMAGE_POLLING) -> None:
    """Until the image is available: WaitFailed when AWS says it failed, WaitTimedOut past ``timeout`` seconds.

    Looks from one second apart, growing to fifteen (botocore's ImageAvailable polls every 15 s, or as fixed):
    an image the sandbox makes in a second is seen within one, one AWS makes in minutes with as few looks."""
    failed = ("failed", "error", "invalid", "deregistered")
    wait_for(
        Wait(
            what=f"image {image_id} available",
            look=lambda: (find_image(ec2, image_id) or {}).get("State", "pending"),  # not listed yet: pending
            done=lambda state: state == "available",
            failed=lambda state: f"image {image_id} is {state}" if state in failed else None,
            deadline=timeout,
        ),
        polling,
        lambda message: None,  # the caller says what it waits for
    )


def delete(ec2: Client, image: Mapping[str, Any], missing_ok: bool = False) -> None:
    """Deregister ``image`` (a DescribeImages entry), then delete its snapshots.

    ``missing_ok``: an image or snapshot already gone is fine (decided by the error code); other errors go through.
    """
    steps: list[Callable[[], object]] = [lambda: ec2.deregister_image(ImageId=image["ImageId"])]
    steps += [partial(ec2.delete_snapshot, SnapshotId=snapshot) for snapshot in snapshots(image)]
    for step in steps:
        unless_gone(step) if missing_ok else step()


def tag_like(ec2: Client, image_id: str, source: Mapping[str, Any], skip: tuple[str, ...] = ("Name",)) -> None:
    """Give the image the tags of ``source`` (a described instance), but for ``skip``."""
    tagging.add(ec2, [image_id], {k: v for k, v in tagging.of(source).items() if k not in skip})
