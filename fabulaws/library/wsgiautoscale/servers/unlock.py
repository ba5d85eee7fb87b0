"""LUKS data volumes after a boot: open them, mount what sits on them, start the services that use them.

A server whose data volume is LUKS-encrypted (``fs_encrypt: luks``) boots with the volume locked: nothing asks
for a passphrase at boot. ``unlock_server`` does what 1.x's ``mount_encrypted`` did, with the passphrase on
stdin and the mapping names recorded at format time (/etc/crypttab), so it is also right on Nitro instances.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from fabric import Connection

from ....errors import DeployError
from ....remote.commands import join, sudo
from ....remote.files import exists
from ....ubuntu import volumes
from ....ubuntu.system import service
from . import roles


def role_services(server_roles: list[str]) -> list[str]:
    """The services of a server's roles, in setup order, each once (they keep data on the volume)."""
    names: list[str] = []
    for role in server_roles:
        if role in roles.ROLE_COMPONENTS:
            names += [name for component in roles.components(role) for name in component.services if name not in names]
    return names


def unlock_server(cxn: Connection, server_roles: list[str], app_root: str, passphrase: Callable[[], str] | None,
                  drive_letter: str = "f") -> str:
    """Open the server's locked LUKS volumes, run /mount-deferred.sh, turn the swap file on, start the role's
    services; one line saying what was done. Idempotent: a server whose volumes are all open is left alone.

    + passphrase: gives the luks_passphrase secret, asked only when a volume is locked (None: there is none)
    + drive_letter: 1.x servers only (no /etc/crypttab line): the data volume is /dev/sd<l> or /dev/xvd<l>
    """
    found = volumes.find_crypt_volumes(cxn, drive_letter)
    if not found:
        return "no LUKS volume"
    locked = volumes.plan_unlock(found, volumes.open_mappings(cxn))
    if not locked:
        return f"{', '.join(v.name for v in found)} already open"
    if passphrase is None:
        raise DeployError(f"{cxn.host}: {', '.join(v.name for v in locked)} locked, and no luks_passphrase to open it")
    services = role_services(server_roles)
    for name in reversed(services):  # started at boot on the empty mount points: stopped before the data is back
        service(cxn, name, "stop", warn=True)
    secret = passphrase()
    for volume in locked:
        volumes.unlock(cxn, volume, secret)
    if not exists(cxn, volumes.MOUNT_SCRIPT):
        raise DeployError(f"{cxn.host}: {', '.join(v.name for v in locked)} opened, but the mount script "
                          f"{volumes.MOUNT_SCRIPT} does not exist")
    sudo(cxn, join("sh", volumes.MOUNT_SCRIPT), hide=True)
    swap_file = posixpath.join(app_root, "swapfile")
    if exists(cxn, swap_file) and not sudo(cxn, join("grep", "-qF", swap_file, "/proc/swaps"), hide=True, warn=True).ok:
        sudo(cxn, join("swapon", swap_file), hide=True, warn=True)
    for name in services:
        service(cxn, name, "start", warn=True)
    return f"opened {', '.join(v.name for v in locked)}; started {', '.join(services) or 'no service'}"
