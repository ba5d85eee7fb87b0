"""The SSH address a new server will have, checked before it is launched.

``ec2_attr_for_ssh`` names the instance field FabulAWS connects to (1.x's default: ``public_dns_name``). In a
subnet that gives new instances no public address (``MapPublicIpOnLaunch`` false), that field stays empty: the
server was launched, then its provisioning failed with a paramiko TypeError in its log. The subnet says so
before anything is launched, so that is where it is found.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ....aws.network import find_default_subnet, resolve_subnet
from ....aws.tags import tag
from ....errors import ConfigError

if TYPE_CHECKING:
    from fabulaws.aws.types import Client
    from fabulaws.config import Settings

PUBLIC_FIELDS = ("PublicDnsName", "PublicIpAddress")


def find_launch_subnet(ec2: Client, settings: Settings, region: str, zone: str) -> dict | None:
    """The subnet a server in ``zone`` (a letter) is launched into: the configured one, else the zone's default
    subnet; None when there is none to read (EC2 then decides). Read-only."""
    configured = (settings.subnets or {}).get(zone)
    if configured:
        return resolve_subnet(ec2, configured)
    return find_default_subnet(ec2, region + zone)


def check_ssh_address(ec2: Client, settings: Settings, region: str, zones: Iterable[str]) -> None:
    """ConfigError (one line: the key, its value, the subnet) when a server launched in one of ``zones`` would have
    no value for ``ec2_attr_for_ssh``; nothing is launched or changed. Read-only."""
    if settings.ssh_attribute not in PUBLIC_FIELDS:
        return
    for zone in sorted(set(zones)):
        subnet = find_launch_subnet(ec2, settings, region, zone)
        if subnet is None or subnet.get("MapPublicIpOnLaunch"):
            continue
        name = tag(subnet, "Name")
        label = f"{subnet['SubnetId']} ({name})" if name else subnet["SubnetId"]
        where = settings.origin.where(("ec2_attr_for_ssh",))
        default = "" if "ec2_attr_for_ssh" in settings.model_fields_set else " (the default)"
        raise ConfigError(
            f"{where}: ec2_attr_for_ssh: {settings.ec2_attr_for_ssh}{default} is a public address, but subnet "
            f"{label} of zone {region}{zone} gives new instances none (MapPublicIpOnLaunch is false), so a new "
            f"server could not be reached; set ec2_attr_for_ssh: private_ip_address (from inside the VPC) or use a "
            f"subnet that maps public IP addresses"
        )
