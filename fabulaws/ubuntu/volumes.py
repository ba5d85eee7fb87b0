"""The data volume: create, attach, find its device (NVMe too), optionally encrypt, format, mount, persist;
and, for LUKS volumes, unlock them again after a reboot."""

from __future__ import annotations

import io
import posixpath
import re
from dataclasses import dataclass

from botocore.exceptions import WaiterError
from fabric import Connection

from ..aws import Aws, volumes
from ..errors import DeployError
from ..remote.commands import join, sudo
from ..remote.files import append, exists
from ..waits import Polling, Wait, WaitTimedOut, wait_for

MOUNT_SCRIPT = "/mount-deferred.sh"
CRYPTTAB = "/etc/crypttab"
DEVICE_POLLING = Polling(delay=1.0, max_delay=1.0)


def create_and_attach(aws: Aws, instance_id: str, zone: str, device: str, size: int, volume_type: str,
                      encrypted: bool, tags: dict[str, str], timeout: float = 600, kms_key_id: str | None = None) -> str:
    """A new EBS volume attached at ``device`` (EBS-encrypted if ``encrypted``, with ``kms_key_id`` if given); on
    failure it is detached and deleted before re-raising."""
    volume_id = volumes.create(aws.ec2, zone, size, volume_type, encrypted, tags, kms_key_id)
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


def format_and_mount(cxn: Connection, device: str, mount_point: str, fs_type: str, passphrase: str | None = None,
                     name: str | None = None) -> str:
    """Make a file system (in LUKS when a passphrase is given, fed on stdin), mount it, and mount it at boot.

    Plain volumes go into /etc/fstab (by UUID); encrypted ones need their passphrase, so their mount goes into
    /mount-deferred.sh for ``mount_encrypted``, as in 1.x, and the LUKS volume into /etc/crypttab (``noauto``:
    see ``luks_format``) under ``name`` (default: ``crypt_name(device)``).
    """
    target = device
    if passphrase:
        target = luks_format(cxn, device, name or crypt_name(device), passphrase)
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


# --- LUKS ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CryptVolume:
    """A LUKS volume as /etc/crypttab records it: its device-mapper name and its source (``UUID=...`` or a path)."""

    name: str
    source: str
    options: str = "luks,noauto"

    @property
    def line(self) -> str:
        return f"{self.name} {self.source} none {self.options}"

    @property
    def mapped(self) -> str:
        return f"/dev/mapper/{self.name}"


def crypt_name(device: str) -> str:
    """The mapping name of the LUKS volume attached at ``device`` (the EBS name asked for, e.g. /dev/sdf):
    ``crypt-sdf``, whatever the kernel calls the disk (xvdf, nvme1n1, which may change between boots)."""
    return f"crypt-{posixpath.basename(device)}"


def luks_format(cxn: Connection, device: str, name: str, passphrase: str) -> str:
    """LUKS-format ``device``, record it in /etc/crypttab by its LUKS UUID, open it as ``name``; the mapped path.

    The passphrase goes on stdin only (never a command line). The crypttab line says ``noauto``: nothing asks
    for the passphrase at boot (a server has no operator at its console); ``mount_encrypted`` opens every LUKS
    volume it lists, by UUID, so the name stays the one formatted even when the NVMe device names change.
    """
    sudo(cxn, join("cryptsetup", "-q", "--batch-mode", "luksFormat", "--key-file=-", device),
         in_stream=_stdin(passphrase), hide=True)
    uuid = sudo(cxn, join("cryptsetup", "luksUUID", device), hide=True).stdout.strip()
    volume = CryptVolume(name, f"UUID={uuid}")
    append(cxn, CRYPTTAB, volume.line)
    unlock(cxn, volume, passphrase, device=device)
    return volume.mapped


def parse_crypttab(text: str) -> list[CryptVolume]:
    """The LUKS volumes of a crypttab that need a passphrase (key file ``none`` or ``-``); swap keyed from
    /dev/urandom and other lines are left out. Pure."""
    found = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        key = fields[2] if len(fields) > 2 else "none"
        options = fields[3] if len(fields) > 3 else ""
        if key in ("none", "-") and "swap" not in options.split(",") and "plain" not in options.split(","):
            found.append(CryptVolume(fields[0], fields[1], options))
    return found


def legacy_volumes(mount_script: str, existing: set[str], drive_letter: str) -> list[CryptVolume]:
    """1.x servers have no crypttab line: their mappings are the ``/dev/mapper/crypt-X`` names their mount script
    uses, each opened from ``/dev/X``; a script naming none: 1.x's guess, ``crypt-sd<l>`` (or ``crypt-xvd<l>`` when
    /dev/sd<l> does not exist; ``existing``: which of the two does). Pure."""
    names = list(dict.fromkeys(re.findall(r"/dev/mapper/(crypt-[A-Za-z0-9_.-]+)", mount_script)))
    if names:
        return [CryptVolume(name, f"/dev/{name.removeprefix('crypt-')}", "luks") for name in names]
    device = f"/dev/sd{drive_letter}" if f"/dev/sd{drive_letter}" in existing else f"/dev/xvd{drive_letter}"
    return [CryptVolume(f"crypt-{posixpath.basename(device)}", device, "luks")]


def plan_unlock(volumes_: list[CryptVolume], open_names: set[str]) -> list[CryptVolume]:
    """The volumes not open yet (an empty plan: every one is open, nothing to do). Pure."""
    return [volume for volume in volumes_ if volume.name not in open_names]


def find_crypt_volumes(cxn: Connection, drive_letter: str = "f") -> list[CryptVolume]:
    """The server's LUKS volumes: /etc/crypttab's, else (a 1.x server) those ``legacy_volumes`` finds. Read-only."""
    recorded = sudo(cxn, join("cat", CRYPTTAB), hide=True, warn=True)
    found = parse_crypttab(recorded.stdout if recorded.ok else "")
    if found:
        return found
    if not exists(cxn, MOUNT_SCRIPT):
        return []
    script = sudo(cxn, join("cat", MOUNT_SCRIPT), hide=True).stdout
    candidates = [f"/dev/sd{drive_letter}", f"/dev/xvd{drive_letter}"]
    present = {path for path in candidates if sudo(cxn, join("test", "-b", path), hide=True, warn=True).ok}
    return legacy_volumes(script, present, drive_letter)


def open_mappings(cxn: Connection) -> set[str]:
    """Names under /dev/mapper (the open LUKS volumes among them). Read-only."""
    listed = sudo(cxn, join("ls", "-1", "/dev/mapper"), hide=True, warn=True)
    return set(listed.stdout.split()) - {"control"} if listed.ok else set()


def source_device(cxn: Connection, volume: CryptVolume) -> str:
    """The block device of a crypttab source: ``UUID=...`` found with findfs, a path as it is."""
    if volume.source.startswith(("UUID=", "PARTUUID=", "LABEL=")):
        found = sudo(cxn, join("findfs", volume.source), hide=True, warn=True)
        if not found.ok or not found.stdout.strip():
            raise DeployError(f"{cxn.host}: no block device has {volume.source} ({volume.name} in {CRYPTTAB}); "
                              "is the volume attached?")
        return found.stdout.strip()
    return volume.source


def unlock(cxn: Connection, volume: CryptVolume, passphrase: str, device: str | None = None) -> None:
    """``cryptsetup open`` the volume as its recorded name, the passphrase on stdin; DeployError if it is refused."""
    device = device or source_device(cxn, volume)
    opened = sudo(cxn, join("cryptsetup", "open", "--type", "luks", "--key-file=-", device, volume.name),
                  in_stream=_stdin(passphrase), hide=True, warn=True)
    if not opened.ok:
        raise DeployError(f"{cxn.host}: cryptsetup could not open {device} as {volume.name}: "
                          f"{(opened.stderr or opened.stdout).strip() or f'exit status {opened.return_code}'}")


def _stdin(text: str) -> io.StringIO:
    return io.StringIO(text)
