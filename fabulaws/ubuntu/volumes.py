"""The data volume: create, attach, find its device (NVMe too), optionally encrypt, format, mount, persist."""

from __future__ import annotations

import posixpath
import time
from typing import Any

from botocore.exceptions import WaiterError

from ..errors import DeployError
from ..remote.commands import join, sudo
from ..remote.files import append, exists

MOUNT_SCRIPT = "/mount-deferred.sh"


def create_and_attach(aws: Any, instance_id: str, zone: str, device: str, size: int, volume_type: str,
                      encrypted: bool, tags: dict[str, str], timeout: float = 600) -> str:
    """A new EBS volume attached at ``device``; on failure it is detached and deleted before re-raising."""
    tag_spec = [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}] if tags else []
    volume_id = aws.ec2.create_volume(AvailabilityZone=zone, Size=size, VolumeType=volume_type, Encrypted=encrypted,
                                      TagSpecifications=tag_spec)["VolumeId"]
    delay = 2
    attempts = max(1, int(timeout / delay))
    try:
        aws.ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig={"Delay": delay, "MaxAttempts": attempts})
        aws.ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=device)
        aws.ec2.get_waiter("volume_in_use").wait(VolumeIds=[volume_id], WaiterConfig={"Delay": delay, "MaxAttempts": attempts})
        aws.ec2.modify_instance_attribute(
            InstanceId=instance_id, BlockDeviceMappings=[{"DeviceName": device, "Ebs": {"DeleteOnTermination": True}}]
        )
    except BaseException as exc:
        delete(aws, volume_id)
        if isinstance(exc, WaiterError):
            raise DeployError(f"volume {volume_id} for {instance_id} did not become ready: {exc}") from None
        raise
    return volume_id


def delete(aws: Any, volume_id: str) -> None:
    """Force-detach (if attached) and delete a volume."""
    try:
        volume = aws.ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
        if volume["Attachments"]:
            aws.ec2.detach_volume(VolumeId=volume_id, Force=True)
            aws.ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig={"Delay": 2, "MaxAttempts": 60})
        aws.ec2.delete_volume(VolumeId=volume_id)
    except Exception:  # noqa: BLE001 - best effort while cleaning up after another failure
        pass


def twin(device: str) -> str:
    if device.startswith("/dev/sd"):
        return device.replace("/dev/sd", "/dev/xvd", 1)
    return device.replace("/dev/xvd", "/dev/sd", 1)


def wait_for_device(cxn: Any, device: str, volume_id: str, timeout: float = 60) -> str:
    """The block device the volume shows up as: its name, the xvd/sd twin, or (Nitro) its NVMe by-id link."""
    candidates = [device, twin(device), f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{volume_id.replace('-', '')}"]
    deadline = time.monotonic() + timeout
    while True:
        for candidate in candidates:
            if sudo(cxn, join("test", "-b", candidate), hide=True, warn=True).ok:
                return sudo(cxn, join("readlink", "-f", candidate), hide=True).stdout.strip()
        if time.monotonic() > deadline:
            raise DeployError(f"{cxn.host}: volume {volume_id} did not appear as any of {', '.join(candidates)}")
        time.sleep(1)


def format_and_mount(cxn: Any, device: str, mount_point: str, fs_type: str, passphrase: str | None = None) -> str:
    """Make a file system (in LUKS when a passphrase is given, fed on stdin), mount it, and mount it at boot.

    Plain volumes go into /etc/fstab (by UUID); encrypted ones need their passphrase, so their mount goes into
    /mount-deferred.sh for ``mount_encrypted``, as in 1.x.
    """
    target = device
    if passphrase:
        name = f"crypt-{posixpath.basename(device)}"
        sudo(cxn, join("cryptsetup", "-q", "--batch-mode", "luksFormat", "--key-file=-", device), in_stream=_stdin(passphrase), hide=True)
        sudo(cxn, join("cryptsetup", "luksOpen", "--key-file=-", device, name), in_stream=_stdin(passphrase), hide=True)
        target = f"/dev/mapper/{name}"
    sudo(cxn, join(f"mkfs.{fs_type}", "-q", target), hide=True)
    sudo(cxn, join("mkdir", "-p", mount_point), hide=True)
    sudo(cxn, join("mount", target, mount_point), hide=True)
    if passphrase:
        persist_mount(cxn, join("mount", target, mount_point), encrypted=True)
    else:
        uuid = sudo(cxn, join("blkid", "-s", "UUID", "-o", "value", target), hide=True).stdout.strip()
        append(cxn, "/etc/fstab", f"UUID={uuid} {mount_point} {fs_type} defaults,nofail 0 2")
    return target


def persist_mount(cxn: Any, command_or_line: str, encrypted: bool) -> None:
    """At boot: a line in /etc/fstab, or (encrypted volumes) a command in /mount-deferred.sh."""
    if not encrypted:
        append(cxn, "/etc/fstab", command_or_line)
        return
    if not exists(cxn, MOUNT_SCRIPT):
        sudo(cxn, f"printf '#!/bin/sh\\nset -e\\n' > {MOUNT_SCRIPT} && chmod 755 {MOUNT_SCRIPT}", hide=True)
    append(cxn, MOUNT_SCRIPT, command_or_line)


def _stdin(text: str) -> Any:
    import io

    return io.StringIO(text)
