"""fail2ban, Python tooling, the application server packages and nginx."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ...remote.commands import join, sudo
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


def install_node(node: Node, version: str, less_version: str | None) -> None:
    """Node.js from NodeSource (1.x's source), then the asset tools 1.x installed."""
    script = f"https://deb.nodesource.com/setup_{version}"
    sudo(node.cxn, f"curl -fsSL {join(script)} | bash -", hide=True)
    apt.install(node.cxn, ["nodejs"])
    tools = [f"less@{less_version}" if less_version else "less", "yuglify"]
    sudo(node.cxn, join("npm", "install", "-g", *tools), hide=True)
