"""Sysadmin accounts from ``ssh_keys``, sudoers, and the deploy user.

``ssh_keys`` holds one public-key file per sysadmin (the file name is the user
name) and an optional ``<name>.gecos`` with the full name. Unlike 1.x, accounts
get locked passwords (not empty ones) and passwordless sudo through a sudoers.d
file checked by ``visudo`` before it is installed; the image's ``ubuntu`` user
is expired only after a sysadmin has proved they can log in and use sudo. The
deploy user gets sudo for exactly ``supervisorctl start|stop|restart|status`` of
its environment's program groups, nothing else (it must not become root).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..remote.commands import join, sudo
from ..remote.files import put

if TYPE_CHECKING:
    from fabric import Connection

SUDOERS_FILE = "/etc/sudoers.d/50-fabulaws"
IMAGE_SUDOERS = "/etc/sudoers.d/90-cloud-init-users"  # cloud images' passwordless entry for ubuntu


@dataclass(frozen=True)
class Sysadmin:
    name: str
    keys: str  # authorized_keys content
    gecos: str = ""


def read_sysadmins(directory: Path | None) -> list[Sysadmin]:
    """The sysadmins of ``ssh_keys``, sorted by name; ConfigError if the directory is missing or has no key."""
    if directory is None:
        raise ConfigError("ssh_keys is not set: new servers need at least one sysadmin key (ssh_keys: <directory>)")
    if not directory.is_dir():
        raise ConfigError(f"ssh_keys: {directory} is not a directory of public-key files")
    admins = []
    for path in sorted(directory.iterdir()):
        if path.name.endswith(".gecos") or path.name.startswith(".") or not path.is_file():
            continue
        keys = "\n".join(line.strip() for line in path.read_text().splitlines() if line.strip()) + "\n"
        gecos_file = path.with_name(path.name + ".gecos")
        gecos = gecos_file.read_text().splitlines()[0].strip() if gecos_file.exists() else ""
        admins.append(Sysadmin(path.name, keys, gecos))
    if not admins:
        raise ConfigError(f"ssh_keys: {directory} has no public-key file (one file per sysadmin, named after the user)")
    return admins


def sudoers(admin_groups: list[str]) -> str:
    lines = ["# Managed by FabulAWS: sysadmins log in with keys only (locked passwords), so sudo asks for none."]
    lines += [f"%{group} ALL=(ALL:ALL) NOPASSWD:ALL" for group in admin_groups]
    return "\n".join(lines) + "\n"


SUPERVISORCTL = "/usr/bin/supervisorctl"
SUPERVISOR_ACTIONS = ("start", "stop", "restart", "status")


def sudoers_word(text: str) -> str:
    """``text`` as one literal argument of a sudoers command: its separators (``,:=#``, blanks) and wildcards
    (``*?[]``) escaped with a backslash, so sudo compares them as they are."""
    return "".join(f"\\{char}" if char in "\\,:=#*?[] \t" else char for char in text)


def deploy_user_sudoers(user: str, targets: list[str]) -> str:
    """``user`` may run ``supervisorctl <action> <target>`` for exactly these targets (``*`` literal, never a
    wildcard: ``testing-web:*`` is allowed, ``all`` or ``testing-web:* -c file`` is not), and nothing else."""
    commands = [f"{SUPERVISORCTL} {action} {sudoers_word(target)}" for target in targets for action in SUPERVISOR_ACTIONS]
    return ("# Managed by FabulAWS: the deploy user restarts its programs; it cannot change what root reads.\n"
            f"{user} ALL=(root) NOPASSWD: " + ", ".join(commands) + "\n")


def deploy_sudoers_file(project: str, environment: str) -> str:
    """The deploy user's sudoers.d file for one environment (sudo skips names with a dot: none here)."""
    return f"/etc/sudoers.d/60-fabulaws-{re.sub(r'[^A-Za-z0-9_-]', '-', f'{project}-{environment}')}"


def install_sudoers(cxn: Connection, content: str, path: str = SUDOERS_FILE, source: str = "admin_groups") -> None:
    """A sudoers.d file, validated by ``visudo -cf`` before it takes effect (``source``: what it was made from,
    for the error). Root's, 0440."""
    staging = path + ".new"  # sudo ignores sudoers.d names containing a dot: never read half-written
    put(cxn, content, staging, mode="0440")
    check = sudo(cxn, join("visudo", "-cf", staging), hide=True, warn=True)
    if not check.ok:
        sudo(cxn, join("rm", "-f", staging), hide=True)
        raise ConfigError(f"{source} give an invalid sudoers file: {check.stdout.strip()} {check.stderr.strip()}")
    sudo(cxn, join("mv", staging, path), hide=True)


def user_exists(cxn: Connection, name: str) -> bool:
    return cxn.run(join("id", "-u", name), hide=True, warn=True).ok


def ensure_groups(cxn: Connection, groups: list[str]) -> None:
    for group in groups:
        if not cxn.run(join("getent", "group", group), hide=True, warn=True).ok:
            sudo(cxn, join("groupadd", group), hide=True)


def create_sysadmin(cxn: Connection, admin: Sysadmin, admin_groups: list[str]) -> None:
    """The account (locked password, admin groups), its authorized keys and full name; idempotent."""
    if not user_exists(cxn, admin.name):
        sudo(cxn, join("useradd", "--create-home", "--shell", "/bin/bash", "--groups", ",".join(admin_groups), admin.name), hide=True)
    else:
        sudo(cxn, join("usermod", "--append", "--groups", ",".join(admin_groups), admin.name), hide=True)
    sudo(cxn, join("usermod", "--lock", admin.name), hide=True)
    home = posixpath.join("/home", admin.name)
    install_keys(cxn, admin.name, home, admin.keys)
    if admin.gecos:
        sudo(cxn, join("usermod", "--comment", admin.gecos, admin.name), hide=True)


def install_keys(cxn: Connection, user: str, home: str, keys: str) -> None:
    sudo(cxn, join("install", "-d", "-o", user, "-g", user, "-m", "0700", posixpath.join(home, ".ssh")), hide=True)
    put(cxn, keys, posixpath.join(home, ".ssh", "authorized_keys"), owner=user, mode="0600")


def create_sysadmins(cxn: Connection, admins: list[Sysadmin], admin_groups: list[str]) -> None:
    ensure_groups(cxn, admin_groups)
    for admin in admins:
        create_sysadmin(cxn, admin, admin_groups)
    install_sudoers(cxn, sudoers(admin_groups), source=f"admin_groups {admin_groups}")


def create_deploy_user(cxn: Connection, name: str, home: str, admins: list[Sysadmin]) -> None:
    """The deploy user, whose authorized keys are every sysadmin's (1.x's deployer)."""
    home = home.rstrip("/") or "/"
    if not user_exists(cxn, name):
        sudo(cxn, join("useradd", "--home-dir", home, "--create-home", "--shell", "/bin/bash", name), hide=True)
    install_keys(cxn, name, home, "".join(admin.keys for admin in admins))


def create_system_user(cxn: Connection, name: str) -> None:
    """A system account without login (runs the web and worker processes when it is not the deploy user)."""
    if not user_exists(cxn, name):
        sudo(cxn, join("useradd", "--system", "--user-group", "--shell", "/usr/sbin/nologin", name), hide=True)


def retire_image_user(cxn: Connection, user: str = "ubuntu") -> None:
    """Expire the image's login user and drop its passwordless sudo (run once a sysadmin can log in)."""
    if user_exists(cxn, user):
        sudo(cxn, join("usermod", "--expiredate", "1", user), hide=True)
    sudo(cxn, join("rm", "-f", IMAGE_SUDOERS), hide=True)
