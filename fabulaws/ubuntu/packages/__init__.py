"""Package components (1.x's mixins): what each installs, keeps on the data volume, configures and starts.

A role is an ordered list of components. Setup installs every component's
packages at once (services held back), moves their data directories onto the
data volume, then configures and starts each component in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fabric import Connection

    from fabulaws.config import Settings


@dataclass
class Node:
    """What a component may use while configuring one server."""

    cxn: Connection
    settings: Settings
    deployment: str
    environment: str
    role: str
    address: str  # private IP: services listen here (and on localhost), never on every interface
    memory_mb: int
    secret: Callable[[str], str]
    paths: Any
    primary_address: Callable[[], str] = field(default=lambda: "")  # db-replica: blocks until the primary is ready
    private_dns: str = ""  # the instance's private DNS name, when known (a server certificate names it)
    networks: Callable[[], list[str]] = field(default=lambda: [])  # its VPC's CIDR blocks, discovered when asked
    report: Callable[[str], None] = field(default=lambda message: None)


class Component:
    """One installable part of a server; subclasses override what they need."""

    name = "component"
    packages: tuple[str, ...] = ()
    data_dirs: tuple[str, ...] = ()  # moved onto the data volume, with services stopped
    services: tuple[str, ...] = ()  # stopped while data_dirs move; started after configure

    def package_list(self, settings: Settings) -> list[str]:
        return list(self.packages)

    def configure(self, node: Node) -> None:
        """Write the configuration and start the services (packages are installed with services held)."""
