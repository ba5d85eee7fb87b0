"""EBS volumes: create, attach, wait for, find, detach and delete."""

from __future__ import annotations

from collections.abc import Mapping

from . import tags as tagging
from .errors import unless_gone
from .types import Client


def create(ec2: Client, zone: str, size: int, volume_type: str, encrypted: bool, tags: Mapping[str, str],
           kms_key_id: str | None = None) -> str:
    """CreateVolume (tagged at creation); the new volume's id (creating until it is available).

    ``kms_key_id``: the KMS key EBS encrypts it with (AWS's default EBS key when None); it implies ``encrypted``.
    """
    key = {"KmsKeyId": kms_key_id} if kms_key_id else {}
    return ec2.create_volume(AvailabilityZone=zone, Size=size, VolumeType=volume_type,
                             Encrypted=encrypted or bool(kms_key_id), **key,
                             TagSpecifications=tagging.specifications(tags, "volume"))["VolumeId"]


def wait_for_state(ec2: Client, volume_id: str, state: str, timeout: float, delay: float = 2) -> None:
    """Until the volume is ``available`` or ``in-use`` (botocore's waiters, bounded by ``timeout`` seconds);
    botocore's WaiterError past it."""
    ec2.get_waiter(f"volume_{state.replace('-', '_')}").wait(
        VolumeIds=[volume_id], WaiterConfig={"Delay": delay, "MaxAttempts": max(1, int(timeout / delay))})


def attach(ec2: Client, volume_id: str, instance_id: str, device: str) -> None:
    ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=device)


def delete_on_termination(ec2: Client, instance_id: str, device: str) -> None:
    """Make the volume at ``device`` go with its instance when the instance is terminated."""
    ec2.modify_instance_attribute(
        InstanceId=instance_id, BlockDeviceMappings=[{"DeviceName": device, "Ebs": {"DeleteOnTermination": True}}])


def find_volume(ec2: Client, volume_id: str) -> dict | None:
    """The volume ``volume_id``, or None when there is no such volume. Read-only."""
    found = unless_gone(lambda: ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"])
    return found[0] if found else None


def find_available(ec2: Client, tags: Mapping[str, str]) -> list[dict]:
    """Volumes carrying every tag in ``tags`` that are attached to nothing. Read-only."""
    filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in tags.items()]
    return ec2.describe_volumes(Filters=filters + [{"Name": "status", "Values": ["available"]}])["Volumes"]


def detach(ec2: Client, volume_id: str, force: bool = False) -> None:
    ec2.detach_volume(VolumeId=volume_id, Force=force)


def delete(ec2: Client, volume_id: str, missing_ok: bool = False) -> None:
    """DeleteVolume; ``missing_ok``: a volume already gone is fine (by error code), other errors go through."""
    if missing_ok:
        unless_gone(lambda: ec2.delete_volume(VolumeId=volume_id))
    else:
        ec2.delete_volume(VolumeId=volume_id)
