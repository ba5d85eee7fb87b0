"""The sandbox network: one bridge for every VPC subnet, NAT to the outside, a namespace per host.

Hosts get their instance's private IP on ``eth0`` in their own network
namespace, with their subnet's first address (on the bridge) as gateway. The
bridge also carries the instance metadata address and the sandbox's own
services (the git server). Everything is named ``fab*`` and tagged
``fabulaws-sandbox`` so ``sandbox down`` finds it even after a crash.
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass
from pathlib import Path

from .system import quiet, run

BRIDGE = "fabsbx0"
METADATA_ADDRESS = "169.254.169.254"
SERVICES_ADDRESS = "10.0.0.1"  # git server; outside every subnet the seed creates
NAMESPACE_PREFIX = "fab-"
VETH_PREFIX = "fabv"
COMMENT = "fabulaws-sandbox"
BALANCER_NETWORK = ipaddress.ip_network("127.10.0.0/16")  # load balancers, reachable from the operator's machine


def namespace_name(instance_id: str) -> str:
    return NAMESPACE_PREFIX + instance_id


def veth_name(instance_id: str) -> str:
    # Interface names are at most 15 characters; instance ids are unique in their last 10.
    return VETH_PREFIX + instance_id[-10:]


@dataclass(frozen=True)
class Interface:
    address: str  # e.g. 10.0.1.4
    network: str  # e.g. 10.0.1.0/24

    @property
    def gateway(self) -> str:
        return str(next(ipaddress.ip_network(self.network).hosts()))

    @property
    def prefix(self) -> int:
        return ipaddress.ip_network(self.network).prefixlen


class Network:
    """The bridge, its gateways and NAT; created once per sandbox, removed by ``teardown``."""

    def __init__(self) -> None:
        self.gateways: set[str] = set()

    def setup(self) -> None:
        if not quiet(["ip", "link", "show", BRIDGE]):
            run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        run(["ip", "link", "set", BRIDGE, "up"])
        for address in (f"{METADATA_ADDRESS}/32", f"{SERVICES_ADDRESS}/32"):
            quiet(["ip", "addr", "add", address, "dev", BRIDGE])
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
        for rule in (["FORWARD", "-i", BRIDGE, "-j", "ACCEPT"], ["FORWARD", "-o", BRIDGE, "-j", "ACCEPT"]):
            if not quiet(["iptables", "-C", *rule, "-m", "comment", "--comment", COMMENT]):
                run(["iptables", "-I", *rule, "-m", "comment", "--comment", COMMENT])

    def add_subnet(self, network: str) -> None:
        """Give the bridge the subnet's gateway address, and NAT the subnet to the outside."""
        gateway = Interface("0.0.0.0", network).gateway
        if gateway in self.gateways:
            return
        prefix = ipaddress.ip_network(network).prefixlen
        quiet(["ip", "addr", "add", f"{gateway}/{prefix}", "dev", BRIDGE])
        nat = ["POSTROUTING", "-s", network, "!", "-o", BRIDGE, "-j", "MASQUERADE", "-m", "comment", "--comment", COMMENT]
        if not quiet(["iptables", "-t", "nat", "-C", *nat]):
            run(["iptables", "-t", "nat", "-A", *nat])
        self.gateways.add(gateway)

    def plug(self, instance_id: str, interface: Interface) -> str:
        """A network namespace for the host, linked to the bridge, with the instance's address."""
        self.add_subnet(interface.network)
        namespace, veth = namespace_name(instance_id), veth_name(instance_id)
        if not quiet(["ip", "netns", "add", namespace]):
            self.unplug(instance_id)
            run(["ip", "netns", "add", namespace])
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace])
        run(["ip", "link", "set", veth, "master", BRIDGE, "up"])
        inside = ["ip", "netns", "exec", namespace]
        run([*inside, "ip", "addr", "add", f"{interface.address}/{interface.prefix}", "dev", "eth0"])
        run([*inside, "ip", "link", "set", "eth0", "up"])
        run([*inside, "ip", "link", "set", "lo", "up"])
        run([*inside, "ip", "route", "add", "default", "via", interface.gateway])
        # a terminated instance may have had this address: forget its MAC address
        quiet(["ip", "neigh", "flush", "to", interface.address, "dev", BRIDGE])
        return namespace

    def unplug(self, instance_id: str) -> None:
        quiet(["ip", "link", "del", veth_name(instance_id)])
        quiet(["ip", "netns", "del", namespace_name(instance_id)])

    def add_balancer_address(self, address: str) -> None:
        quiet(["ip", "addr", "add", f"{address}/32", "dev", "lo"])


def teardown() -> None:
    """Remove the bridge, the NAT/forward rules and the balancer addresses (after every host is gone)."""
    quiet(["ip", "link", "del", BRIDGE])
    for table in ("nat", "filter"):
        listing = run(["iptables", "-t", table, "-S"], check=False).stdout.splitlines()
        for rule in listing:
            if COMMENT in rule and rule.startswith("-A "):
                quiet(["iptables", "-t", table, "-D", *shlex.split(rule[3:])])
    for line in run(["ip", "-o", "addr", "show", "dev", "lo"], check=False).stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            address = parts[parts.index("inet") + 1]
            if ipaddress.ip_interface(address).ip in BALANCER_NETWORK:
                quiet(["ip", "addr", "del", address, "dev", "lo"])


def leftovers() -> list[str]:
    """Sandbox network objects that exist right now (for ``sandbox status`` and the tests)."""
    found = []
    if quiet(["ip", "link", "show", BRIDGE]):
        found.append(f"bridge {BRIDGE}")
    for line in run(["ip", "netns", "list"], check=False).stdout.splitlines():
        if line.startswith(NAMESPACE_PREFIX):
            found.append(f"network namespace {line.split()[0]}")
    for line in run(["ip", "-o", "link", "show"], check=False).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(VETH_PREFIX):
            found.append(f"interface {name}")
    for table in ("nat", "filter"):
        for rule in run(["iptables", "-t", table, "-S"], check=False).stdout.splitlines():
            if COMMENT in rule:
                found.append(f"iptables {table} rule {rule}")
    return found

