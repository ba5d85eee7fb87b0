"""What recreate_servers replaces: every server of an environment but its web servers, one new for one old.

The new primary starts as a replica of the old one (in the old primary's zone), so its data is carried over
by streaming replication and it is promoted in the switch; the other new servers go to the zones of the
servers they replace.
"""

from __future__ import annotations

from dataclasses import dataclass

from ....errors import UsageError
from ..stack import PRIMARY_ROLES, REPLICA_ROLES, Server, Stack
from .provision import ServerSpec

KEPT_ROLES = ("web",)  # the web servers follow through their image and the group's launch


@dataclass(frozen=True)
class Recreation:
    """The servers to create (the future primary first) and the old ones they replace."""

    specs: list[ServerSpec]
    primaries: list[Server]
    retired: list[Server]  # every other old server (replicas, caches, workers)

    @property
    def old(self) -> list[Server]:
        return self.primaries + self.retired


def zone_letter(zones: list[str], availability_zone: str) -> str:
    """The configured zone (a letter like ``a`` or a full name) an instance's zone is; the first one if none is."""
    for zone in zones:
        if availability_zone == zone or (len(zone) == 1 and availability_zone.endswith(zone)):
            return zone
    return zones[0]


def plan_recreation(stack: Stack) -> Recreation:
    """One new server per old non-web server; UsageError when there is no primary to carry the data over, or
    combo servers (a web server too, which the group does not replace)."""
    env = stack.env
    zones = env.settings.avail_zones
    if stack.by_role("combo"):
        raise UsageError("recreate_servers: combo servers serve the web too; replace them with `new` by hand")
    primaries = [s for role in PRIMARY_ROLES for s in stack.by_role(role)]
    if not primaries:
        raise UsageError(f"recreate_servers: {env.deployment} {env.environment} has no db-primary whose data the "
                         "new servers could carry over")

    def spec(role: str, server: Server) -> ServerSpec:
        return ServerSpec(env.deployment, env.environment, role, zone_letter(zones, server.availability_zone))

    specs = [spec("db-replica", primaries[0])]  # the future primary
    retired: list[Server] = []
    for role, members in stack.servers.items():
        if role in KEPT_ROLES or role in PRIMARY_ROLES or role == "combo":
            continue
        for server in members:
            specs.append(spec("db-replica" if role in REPLICA_ROLES else role, server))
            retired.append(server)
    return Recreation(specs, primaries, retired)
