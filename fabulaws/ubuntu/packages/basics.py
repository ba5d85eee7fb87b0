"""fail2ban, Python tooling, the application server packages (and Node.js, when asked for) and nginx."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ...remote.commands import join, sudo
from ...remote.files import put
from .. import apt
from ..system import enable, service
from ..users import create_system_user
from . import Component, Node

if TYPE_CHECKING:
    from fabulaws.config import Settings

log = logging.getLogger("fabulaws.packages")


class Fail2ban(Component):
    name = "fail2ban"
    packages = ("fail2ban",)
    services = ("fail2ban",)

    def configure(self, node: Node) -> None:
        enable(node.cxn, "fail2ban")
        if not service(node.cxn, "fail2ban", "restart", warn=True):
            # e.g. no sshd log to watch yet; the server is usable, so say so rather than fail.
            node.report("warning: fail2ban did not start; see `service fail2ban status` on the server")


class Python(Component):
    """Python 3 with venv (PEP 668 images refuse system-wide pip, so no get-pip.py)."""

    name = "python"
    packages = ("python3", "python3-dev", "python3-venv")


class AppServer(Component):
    """What web and worker servers run the application with (1.x AppMixin)."""

    name = "app server"
    packages = ("supervisor", "pgbouncer", "stunnel4")
    services = ("supervisor",)

    def package_list(self, settings: Settings) -> list[str]:
        return sorted(set(self.packages) | set(settings.app_server_packages))

    def configure(self, node: Node) -> None:
        settings = node.settings
        if settings.node_version:
            install_node(node, settings.node_version, settings.less_version)
        if settings.webserver_user != settings.deploy_user:
            create_system_user(node.cxn, settings.webserver_user)
        enable(node.cxn, "supervisor")
        service(node.cxn, "supervisor", "restart")


class Nginx(Component):
    name = "nginx"
    packages = ("nginx", "ssl-cert")
    services = ("nginx",)

    def configure(self, node: Node) -> None:
        enable(node.cxn, "nginx")
        service(node.cxn, "nginx", "restart")


# NodeSource's repository signing key (NSolid <nsolid-gpg@nodesource.com>): checked before apt trusts the key.
NODESOURCE_FINGERPRINT = "6F71F525282841EEDAF851B42F59B5F99B1BE0B4"
NODESOURCE_PIN = "/etc/apt/preferences.d/nodesource"
# The asset tools 1.x installed, at exact versions (1.x took whatever npm had that day); less_version wins for less.
YUGLIFY_VERSION = "2.0.0"
LESS_VERSION = "4.9.1"


def nodesource(major: str) -> apt.SignedRepository:
    """NodeSource's signed repository for one Node.js major version (``node_<major>.x``)."""
    return apt.SignedRepository(name="nodesource", title="NodeSource", key_url="https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key",
                                url=f"https://deb.nodesource.com/node_{major}.x", suite="nodistro",
                                fingerprint=NODESOURCE_FINGERPRINT)


def node_major(version: str) -> str:
    """``20`` of ``node_version`` ``20`` or ``20.x`` (1.x's ``setup_20.x`` form); the schema refused anything else."""
    return version.removesuffix(".x")


def npm_tools(less_version: str | None) -> list[str]:
    return [f"less@{less_version or LESS_VERSION}", f"yuglify@{YUGLIFY_VERSION}"]


def install_node(node: Node, version: str, less_version: str | None) -> None:
    """Node.js from NodeSource's signed repository (1.x piped NodeSource's setup script into a root shell), then
    the asset tools 1.x installed, pinned, their install scripts not run (nothing of theirs runs as root)."""
    apt.install(node.cxn, ["ca-certificates", "curl", "gnupg"])
    apt.add_signed_repository(node.cxn, nodesource(node_major(version)))
    # NodeSource's nodejs, never the distribution's (an older one of the same major could win by version)
    put(node.cxn, "Package: nodejs\nPin: origin deb.nodesource.com\nPin-Priority: 600\n", NODESOURCE_PIN)
    apt.update(node.cxn)
    apt.install(node.cxn, ["nodejs"])
    sudo(node.cxn, join("npm", "install", "--global", "--ignore-scripts", *npm_tools(less_version)), hide=True)
