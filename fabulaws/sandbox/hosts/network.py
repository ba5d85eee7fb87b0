"""The sandbox network of one slot: a router namespace with a bridge for every subnet, a namespace per host.

Everything lives in the slot's router network namespace ``fabsbxN`` (see ``..slots``): the bridge ``br0``
with each subnet's first address (the hosts' gateway), the metadata address 169.254.169.254 and the
services address 10.0.0.1 (git server, apt cache). The operator's machine reaches it through the veth
pair ``fabsbxN`` <-> ``up0`` (198.18.N.0/30) and a route for the slot's own address ranges only; hosts
reach the outside through NAT in the router and then on the operator's machine. Hosts get their
instance's private IP on ``eth0`` in their own namespace ``fabN-<instance-id>``. Every name and firewall
comment carries the slot, so ``sandbox down`` removes only its own, also after a crash.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..slots import METADATA_ADDRESS, SERVICES_ADDRESS, Slot
from .system import HostError, quiet, run

BRIDGE = "br0"  # inside the router namespace
UPLINK = "up0"  # the router's end of the link to the operator's machine
CLONE_NEWNET = 0x40000000

__all__ = ["METADATA_ADDRESS", "SERVICES_ADDRESS", "Interface", "Network", "in_namespace", "teardown", "leftovers"]


def host_veth(instance_id: str) -> str:
    # Interface names are at most 15 characters; instance ids are unique in their last 10.
    return "h" + instance_id[-10:]


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


def in_namespace(namespace: str, function: Callable[[], Any]) -> Any:
    """Call ``function`` in a thread that entered ``namespace``'s network namespace.

    Network namespaces are per thread: a socket created there stays in that namespace after the thread
    ends, so servers of the operator's process can listen on the router's addresses. (Python 3.11 has no
    ``os.setns``.)
    """
    outcome: dict[str, Any] = {}

    def enter() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        descriptor = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
        try:
            if libc.setns(descriptor, CLONE_NEWNET) != 0:
                error = ctypes.get_errno()
                raise OSError(error, f"setns into {namespace}: {os.strerror(error)}")
        finally:
            os.close(descriptor)
        outcome["value"] = function()

    def target() -> None:
        try:
            enter()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"setns {namespace}")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


class Network:
    """The router namespace, its link to the operator's machine and NAT; ``teardown`` removes them."""

    def __init__(self, slot: Slot) -> None:
        self.slot = slot
        self.gateways: set[str] = set()
        self.routed: set[str] = set()
        self._lock = threading.Lock()

    @property
    def router(self) -> str:
        return self.slot.router

    def exec_prefix(self) -> list[str]:
        """Run a command (a server) in the router namespace."""
        return ["ip", "netns", "exec", self.router]

    def setup(self) -> None:
        slot, router = self.slot, self.router
        if not quiet(["ip", "netns", "add", router]):
            teardown(slot)  # a killed sandbox of this slot left it: ours to replace
            run(["ip", "netns", "add", router])
        inside = ["ip", "-n", router]
        run([*inside, "link", "set", "lo", "up"])
        run([*inside, "link", "add", BRIDGE, "type", "bridge"])
        run([*inside, "link", "set", BRIDGE, "up"])
        for address in (f"{METADATA_ADDRESS}/32", f"{SERVICES_ADDRESS}/32"):
            run([*inside, "addr", "add", address, "dev", BRIDGE])
        quiet(["ip", "link", "del", router])
        run(["ip", "link", "add", router, "type", "veth", "peer", "name", UPLINK, "netns", router])
        run(["ip", "addr", "add", f"{slot.outside_address}/{slot.link_network.prefixlen}", "dev", router])
        run(["ip", "link", "set", router, "up"])
        run([*inside, "addr", "add", f"{slot.router_address}/{slot.link_network.prefixlen}", "dev", UPLINK])
        run([*inside, "link", "set", UPLINK, "up"])
        run([*inside, "route", "add", "default", "via", slot.outside_address])
        run([*self.exec_prefix(), "sysctl", "-qw", "net.ipv4.ip_forward=1"])
        run([*self.exec_prefix(), "iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-o", UPLINK, "-j", "MASQUERADE"])
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
        comment = ["-m", "comment", "--comment", slot.comment]
        for rule in (["FORWARD", "-i", router, "-j", "ACCEPT"], ["FORWARD", "-o", router, "-j", "ACCEPT"]):
            run(["iptables", "-w", "-I", *rule, *comment])
        run(["iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-s", str(slot.link_network), "!", "-o", router,
             "-j", "MASQUERADE", *comment])
        for network in slot.networks:
            self.route(str(network))

    def route(self, network: str) -> None:
        """Route ``network`` from the operator's machine to this slot's router (refused if another routes it)."""
        with self._lock:
            if network in self.routed:
                return
            added = run(["ip", "route", "add", network, "via", self.slot.router_address, "dev", self.router], check=False)
            if added.returncode != 0:
                existing = run(["ip", "route", "show", "exact", network], check=False).stdout.strip()
                if f"dev {self.router}" not in existing:
                    raise HostError(
                        f"{network} is already routed on this machine ({existing or added.stderr.strip()}): another "
                        f"sandbox's hosts (or a local network) use it; give this VPC a CIDR in {self.slot.vpc_network}"
                    )
            self.routed.add(network)

    def add_subnet(self, network: str) -> None:
        """Give the bridge the subnet's gateway address, and route the subnet if outside the slot's ranges."""
        subnet = ipaddress.IPv4Network(network)  # the sandbox routes IPv4 only
        if not any(subnet.subnet_of(own) for own in self.slot.networks):
            self.route(str(subnet))
        gateway = Interface("0.0.0.0", network).gateway
        with self._lock:
            if gateway in self.gateways:
                return
            quiet(["ip", "-n", self.router, "addr", "add", f"{gateway}/{subnet.prefixlen}", "dev", BRIDGE])
            self.gateways.add(gateway)

    def host_namespace(self, instance_id: str) -> str:
        return self.slot.host_prefix + instance_id

    def plug(self, instance_id: str, interface: Interface) -> str:
        """A network namespace for the host, linked to the router's bridge, with the instance's address."""
        self.add_subnet(interface.network)
        namespace, veth = self.host_namespace(instance_id), host_veth(instance_id)
        if not quiet(["ip", "netns", "add", namespace]):
            self.unplug(instance_id)
            run(["ip", "netns", "add", namespace])
        router = ["ip", "-n", self.router]
        run([*router, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace])
        run([*router, "link", "set", veth, "master", BRIDGE, "up"])
        inside = ["ip", "-n", namespace]
        run([*inside, "addr", "add", f"{interface.address}/{interface.prefix}", "dev", "eth0"])
        run([*inside, "link", "set", "eth0", "up"])
        run([*inside, "link", "set", "lo", "up"])
        run([*inside, "route", "add", "default", "via", interface.gateway])
        # a terminated instance may have had this address: forget its MAC address
        quiet([*router, "neigh", "flush", "to", interface.address, "dev", BRIDGE])
        return namespace

    def unplug(self, instance_id: str) -> None:
        quiet(["ip", "-n", self.router, "link", "del", host_veth(instance_id)])
        quiet(["ip", "netns", "del", self.host_namespace(instance_id)])


def namespaces() -> list[str]:
    listing = run(["ip", "netns", "list"], check=False).stdout.splitlines()
    return [line.split()[0] for line in listing if line.split()]


def host_namespaces(slot: Slot) -> list[str]:
    return [name for name in namespaces() if name.startswith(slot.host_prefix)]


def _own_rules(slot: Slot, table: str) -> list[list[str]]:
    rules = []
    for line in run(["iptables", "-w", "-t", table, "-S"], check=False).stdout.splitlines():
        if not line.startswith("-A "):
            continue
        words = shlex.split(line)
        if "--comment" in words and words[words.index("--comment") + 1] == slot.comment:
            rules.append(words[1:])
    return rules


def teardown(slot: Slot) -> None:
    """Remove the slot's namespaces (hosts' and router's: their interfaces go with them), link and rules."""
    for name in host_namespaces(slot):
        quiet(["ip", "netns", "del", name])
    quiet(["ip", "netns", "del", slot.router])
    quiet(["ip", "link", "del", slot.router])
    for table in ("nat", "filter"):
        for rule in _own_rules(slot, table):
            quiet(["iptables", "-w", "-t", table, "-D", *rule])
    for line in run(["ip", "-o", "addr", "show", "dev", "lo"], check=False).stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            address = parts[parts.index("inet") + 1]
            if ipaddress.ip_interface(address).ip in slot.balancer_network:
                quiet(["ip", "addr", "del", address, "dev", "lo"])


def leftovers(slot: Slot) -> list[str]:
    """The slot's network objects that exist right now (for ``sandbox status`` and the tests)."""
    found = [f"network namespace {name}" for name in namespaces() if name == slot.router or name.startswith(slot.host_prefix)]
    if quiet(["ip", "link", "show", slot.router]):
        found.append(f"interface {slot.router}")
    for table in ("nat", "filter"):
        found += [f"iptables {table} rule {' '.join(rule)}" for rule in _own_rules(slot, table)]
    return found
