"""The data volume: create, attach, find its device (NVMe too), optionally encrypt, format, mount, persist."""

from __future__ import annotations

import io
import posixpath

from botocore.exceptions import WaiterError
from fabric import Connection

from ..aws import Aws, volumes
from ..errors import DeployError
from ..remote.commands import join, sudo
from ..remote.files import append, exists
from ..waits import Polling, Wait, WaitTimedOut, wait_for

MOUNT_SCRIPT = "/mount-deferred.sh"
DEVICE_POLLING = Polling(delay=1.0, max_delay=1.0)


def create_and_attach(aws: Aws, instance_id: str, zone: str, device: str, size: int, volume_type: str,
                      encrypted: bool, tags: dict[str, str], timeout: float = 600) -> str:
    """A new EBS volume attached at ``device``; on failure it is detached and deleted before re-raising."""
    volume_id = volumes.create(aws.ec2, zone, size, volume_type, encrypted, tags)
    try:
        volumes.wait_for_state(aws.ec2, volume_id, "available", timeout)
        volumes.attach(aws.ec2, volume_id, instance_id, device)
        volumes.wait_for_state(aws.ec2, volume_id, "in-use", timeout)
        volumes.delete_on_termination(aws.ec2, instance_id, device)
    except BaseException as exc:
        delete(aws, volume_id)
        if isinstance(exc, WaiterError):
            raise DeployError(f"volume {volume_id} for {instance_id} did not become ready: {exc}") from None
        raise
    return volume_id


def delete(aws: Aws, volume_id: str) -> None:
    """Force-detach (if attached) and delete a volume."""
    try:
        volume = volumes.find_volume(aws.ec2, volume_id)
        if volume is None:
            return
        if volume["Attachments"]:
            volumes.detach(aws.ec2, volume_id, force=True)
            volumes.wait_for_state(aws.ec2, volume_id, "available", timeout=120)
        volumes.delete(aws.ec2, volume_id, missing_ok=True)
    except Exception:  # noqa: BLE001 - best effort while cleaning up after another failure
        pass


def twin(device: str) -> str:
    if device.startswith("/dev/sd"):
        return device.replace("/dev/sd", "/dev/xvd", 1)
    return device.replace("/dev/xvd", "/dev/sd", 1)


def wait_for_device(cxn: Connection, device: str, volume_id: str, timeout: float = 60) -> str:
    """The block device the volume shows up as: its name, the xvd/sd twin, or (Nitro) its NVMe by-id link.

    A declared wait (fabulaws.waits): a look every second until one of them is a block device, ``timeout`` s.
    """
    candidates = [device, twin(device), f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{volume_id.replace('-', '')}"]

    def look() -> str | None:
        for candidate in candidates:
            if sudo(cxn, join("test", "-b", candidate), hide=True, warn=True).ok:
                return sudo(cxn, join("readlink", "-f", candidate), hide=True).stdout.strip()
        return None

    wait = Wait(what=f"volume {volume_id} on {cxn.host}", look=look, done=lambda found: found is not None,
                progress=lambda found: "no block device yet", deadline=timeout)
    try:
        found = wait_for(wait, DEVICE_POLLING, lambda message: None)
    except WaitTimedOut:
        raise DeployError(f"{cxn.host}: volume {volume_id} did not appear as any of {', '.join(candidates)}") from None
    assert found is not None  # what done() waited for
    return found


def format_and_mount(cxn: Connection, device: str, mount_point: str, fs_type: str, passphrase: str | None = None) -> str:
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


def persist_mount(cxn: Connection, command_or_line: str, encrypted: bool) -> None:
    """At boot: a line in /etc/fstab, or (encrypted volumes) a command in /mount-deferred.sh."""
    if not encrypted:
        append(cxn, "/etc/fstab", command_or_line)
        return
    if not exists(cxn, MOUNT_SCRIPT):
        sudo(cxn, f"printf '#!/bin/sh\\nset -e\\n' > {MOUNT_SCRIPT} && chmod 755 {MOUNT_SCRIPT}", hide=True)
    append(cxn, MOUNT_SCRIPT, command_or_line)


def _stdin(text: str) -> io.StringIO:
    return io.StringIO(text)
