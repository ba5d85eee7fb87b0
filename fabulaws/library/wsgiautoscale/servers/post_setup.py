"""What a new server installs once its role's packages are configured, before it gets its role (1.x ``_new``'s
post-setup), in 1.x's order:

1. New Relic's infrastructure agent, when ``newrelic_license_key`` is among password_names (and
   ``newrelic_infrastructure_agent`` is not false);
2. munin-node, when ``munin_node`` is true (1.x always installed it; off by default now: most teams no longer run
   a munin master, and it opens port 4949 to the VPC);
3. the log shippers configured (``servers/logs.py``: syslog, GELF, CloudWatch).

Each is a step of the server's creation like any other: a failure fails that try (discarded, retried).
1.x's other post-setup steps happen elsewhere here: server passwords and ``bootstrap`` once the servers exist
(``create_environment``, the deploy engine).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ....aws import network
from ....ubuntu.packages import Node, monitoring
from ..app import newrelic
from . import logs

if TYPE_CHECKING:
    from fabulaws.aws.types import Client
    from fabulaws.config import Settings

Step = tuple[str, Callable[[Node], object]]


def secrets_needed(settings: Settings) -> list[str]:
    """The secrets the post-setup steps read (loaded before any server is launched)."""
    return ([newrelic.LICENSE_KEY] if newrelic.infrastructure_wanted(settings) else []) + logs.secrets_needed(settings)


def munin_networks(ec2: Client, instance_ids: list[str], warn: Callable[[str], None]) -> list[str]:
    """The networks munin-node answers (see private_networks)."""
    return private_networks(ec2, instance_ids, warn, "munin-node")


def private_networks(ec2: Client, instance_ids: list[str], warn: Callable[[str], None], what: str) -> list[str]:
    """The servers' VPC CIDR blocks, else (outside a VPC) 1.x's private ranges, with a warning naming ``what``
    (munin-node's allowed networks, postgresql_networks' default)."""
    found = network.vpc_networks(ec2, instance_ids)
    if found:
        return found
    warn(f"{what}: no VPC found for {', '.join(instance_ids)}; allowing every private network as 1.x did "
         f"({', '.join(monitoring.PRIVATE_NETWORKS)})")
    return list(monitoring.PRIVATE_NETWORKS)


def newrelic_conf(node: Node) -> str:
    """/etc/newrelic-infra.yml for the server ``node`` is."""
    return monitoring.newrelic_infra_yml(node.secret(newrelic.LICENSE_KEY), node.deployment, node.environment,
                                         node.role)


def steps(settings: Settings, networks: Callable[[], list[str]]) -> list[Step]:
    """The ordered post-setup steps for ``settings``; ``networks`` gives munin-node's allowed networks."""
    chosen: list[Step] = []
    if newrelic.infrastructure_wanted(settings):
        chosen.append(("New Relic infrastructure agent",
                       lambda node: monitoring.install_newrelic_infra(node.cxn, newrelic_conf(node))))
    if settings.munin_node:
        chosen.append(("munin-node", lambda node: monitoring.install_munin(node.cxn, networks())))
    chosen += log_shippers(settings)
    return chosen


def log_shippers(settings: Settings) -> list[Step]:
    """The log shippers configured (``servers/logs.py``), each run with the new server's Node."""
    return list(logs.configured(settings))
