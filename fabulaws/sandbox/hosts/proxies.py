"""Load balancers as real haproxy: one process per classic ELB and per ELBv2 target group.

Each haproxy listens on its own loopback address (127.10.<slot>.N) on the
listeners' ports, health-checks the registered instances with the load
balancer's own check (target, interval, thresholds; intervals scaled), and
routes only to instances it considers UP. Instances are added at run time
through haproxy's admin socket, starting DOWN, so a new instance gets traffic
only after HealthyThreshold passing checks, as on AWS. What haproxy observes is
what DescribeInstanceHealth and DescribeTargetHealth report.

Registrations are desired state, applied on every tick: a balancer (re)started after its instances were
registered (created, or reconfigured by ConfigureHealthCheck, in the same second) gets them all, whatever
the order of the calls.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..backends import regional
from ..health import (
    CLASSIC,
    TARGET_GROUP,
    HealthCheck,
    Registration,
    TargetHealth,
    healthy_and_unhealthy,
)
from ..slots import Slot
from ..timing import Timings
from .system import log, run


class HaproxyError(RuntimeError):
    """haproxy refused a command on its admin socket."""


@dataclass(frozen=True)
class Listener:
    port: int
    protocol: str  # HTTP or HTTPS (what clients speak)


@dataclass(frozen=True)
class ProxySpec:
    """Everything a proxy's configuration depends on (a change means a restart)."""

    kind: str
    name: str
    listeners: tuple[Listener, ...]
    instance_port: int
    instance_protocol: str
    check: HealthCheck


class Proxy:
    """One haproxy process and its admin socket."""

    def __init__(self, directory: Path, address: str, spec: ProxySpec, timings: Timings) -> None:
        self.directory = directory
        self.address = address
        self.spec = spec
        self.timings = timings
        self.servers: dict[str, tuple[str, int]] = {}  # instance id -> (ip, port): what haproxy was told
        self.leaving: set[str] = set()  # disabled, deleted once their last connection ends
        self.stats: dict[str, dict[str, str]] = {}
        self.started = 0
        self.running = False

    @property
    def socket_path(self) -> Path:
        """In /tmp under a digest of the directory and the start: a Unix socket path must stay under 108 bytes,
        and the sandbox's directory can be deep (pytest's basetemp made haproxy fail to create it). Each start
        has its own socket: a haproxy stopped for a new configuration must not take the new one's with it."""
        digest = hashlib.sha1(f"{self.directory.resolve()}#{self.started}".encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"fabulaws-lb-{digest}.sock"

    @property
    def pid_file(self) -> Path:
        return self.directory / "haproxy.pid"

    def url(self) -> str:
        listener = self.spec.listeners[0] if self.spec.listeners else None
        return f"{listener.protocol.lower()}://{self.address}:{listener.port}" if listener else ""

    def start(self) -> None:
        """Start haproxy with no server; ``sync`` adds the registered instances."""
        self.started = time.monotonic_ns()
        self.servers = {}
        self.leaving = set()
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "haproxy.cfg").write_text(self.configuration())
        run(["haproxy", "-f", str(self.directory / "haproxy.cfg"), "-D", "-p", str(self.pid_file)])
        self.running = True

    def stop(self) -> None:
        self.running = False
        try:
            os.kill(int(self.pid_file.read_text().split()[0]), signal.SIGTERM)
        except (OSError, ValueError, IndexError):
            pass
        self.pid_file.unlink(missing_ok=True)
        self.socket_path.unlink(missing_ok=True)

    def check_milliseconds(self) -> tuple[int, int]:
        """(interval, timeout) of haproxy's checks: AWS's, scaled, but a real host gets at least 1 s to answer.

        Scaling the interval alone would check a loaded host many times per timeout and mark it down for a
        hiccup AWS would never see; the interval keeps its AWS ratio to the timeout instead.
        """
        check = self.spec.check
        timeout = max(1000, int(self.timings.real(check.timeout) * 1000))
        ratio = check.interval / check.timeout if check.timeout else 2.0
        return max(100, int(self.timings.real(check.interval) * 1000), int(timeout * ratio)), timeout

    def configuration(self) -> str:
        check = self.spec.check
        _, timeout_check = self.check_milliseconds()
        lines = [
            "global",
            f"    pidfile {self.pid_file}",
            f"    stats socket {self.socket_path} mode 600 level admin",
            "    maxconn 4096",
            "defaults",
            "    mode http",
            "    option forwardfor",
            "    timeout connect 5s",
            "    timeout client 60s",
            "    timeout server 60s",
            f"    timeout check {timeout_check}ms",
        ]
        for listener in self.spec.listeners:
            tls = f" ssl crt {self._certificate()}" if listener.protocol == "HTTPS" else ""
            lines += [
                f"frontend listener_{listener.port}",
                f"    bind {self.address}:{listener.port}{tls}",
                f"    http-request set-header X-Forwarded-Proto {listener.protocol.lower()}",
                f"    http-request set-header X-Forwarded-Port {listener.port}",
                "    default_backend instances",
            ]
        lines += ["backend instances", "    balance roundrobin"]
        if check.protocol in ("HTTP", "HTTPS"):
            lines += [f"    option httpchk GET {check.path or '/'}", "    http-check expect status 200"]
        return "\n".join(lines) + "\n"

    def _certificate(self) -> Path:
        pem = self.directory.parent / "listener.pem"
        if not pem.exists():
            key, cert = self.directory.parent / "listener.key", self.directory.parent / "listener.crt"
            run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", "/CN=sandbox.elb",
                 "-keyout", str(key), "-out", str(cert)])
            pem.write_text(cert.read_text() + key.read_text())
        return pem

    def command(self, text: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket_path))
            sock.sendall(text.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def add(self, name: str, ip: str, port: int) -> None:
        """A new server, DOWN until HealthyThreshold checks pass (never routed to before)."""
        check = self.spec.check
        interval, _ = self.check_milliseconds()
        options = [f"{ip}:{port}", "weight", "0", "check", "inter", f"{interval}ms",
                   "rise", str(check.healthy_threshold), "fall", str(check.unhealthy_threshold), "port", str(check.port)]
        if self.spec.instance_protocol in ("HTTPS", "SSL"):
            options += ["ssl", "verify", "none"]
        # With "port", checks do not inherit "ssl": an HTTPS check says check-ssl. (An HTTP check says nothing:
        # haproxy refuses "no-check-ssl" for a dynamic server, and on main every instance behind an HTTP check
        # stayed "Instance registration is still in progress." for that.)
        if check.protocol in ("HTTPS", "SSL"):
            options.append("check-ssl")
            if "verify" not in options:
                options += ["verify", "none"]
        answer = self.command(f"add server instances/{name} {' '.join(options)}")
        if "New server registered" not in answer:
            raise HaproxyError(f"add server {name}: {answer.strip()}")
        self.servers[name] = (ip, port)
        for text in (f"enable health instances/{name}", f"enable server instances/{name}",
                     f"set server instances/{name} health down", f"set weight instances/{name} 100"):
            self.command(text)

    def remove(self, name: str) -> None:
        """No new requests for ``name``; haproxy deletes it once its requests in flight end."""
        self.servers.pop(name, None)
        self.command(f"disable server instances/{name}")
        self.leaving.add(name)

    def _delete_leaving(self) -> None:
        # haproxy refuses "del server" while a request is in flight ("Server still has connections attached
        # to it"); until it is gone, its name cannot be added again, so a quick re-registration waits here.
        for name in list(self.leaving):
            answer = self.command(f"del server instances/{name}")
            if "Server deleted" in answer or "No such server" in answer:
                self.leaving.discard(name)

    def sync(self, wanted: dict[str, tuple[str, int]]) -> None:
        """Make haproxy's servers the registered instances (added DOWN, removed, or moved to a new address)."""
        for name in [n for n in self.servers if wanted.get(n) != self.servers[n]]:
            self.remove(name)
        self._delete_leaving()
        for name, (ip, port) in wanted.items():
            if name not in self.servers and name not in self.leaving:
                self.add(name, ip, port)

    def refresh_stats(self) -> None:
        """One ``show stat`` per tick: status (UP/DOWN...), last check and failed checks per server."""
        try:
            text = self.command("show stat")
        except OSError:
            self.stats = {}
            return
        rows = text.strip().splitlines()
        if not rows:
            return
        header = rows[0].lstrip("# ").split(",")
        stats = {}
        for row in rows[1:]:
            values = dict(zip(header, row.split(","), strict=False))
            if values.get("pxname") == "instances" and values.get("svname") not in ("BACKEND", "FRONTEND"):
                stats[values["svname"]] = values
        self.stats = stats


class HaproxyChecker:
    """The Checker behind the load balancer APIs when hosts exist: haproxy does the checking."""

    def __init__(self, run_dir: Path, timings: Timings, slot: Slot) -> None:
        self.root = run_dir / "haproxy"
        self.root.mkdir(parents=True, exist_ok=True)
        self.timings = timings
        self.network = slot.balancer_network
        self.proxies: dict[tuple[str, str], Proxy] = {}
        self.registered: dict[tuple[str, str], dict[str, tuple[str, int]]] = {}  # balancer -> instance -> (ip, port)
        self.addresses: dict[str, str] = json.loads((self.root / "addresses.json").read_text()) if (self.root / "addresses.json").exists() else {}
        self.ever_up: set[Registration] = set()
        self.warned: set[str] = set()

    # --- the Checker protocol -------------------------------------------------------------------
    def begin(self, now: float) -> None:
        wanted = dict(self._specs())
        for key in [k for k in self.proxies if k not in wanted]:
            self.proxies.pop(key).stop()
        for key, spec in wanted.items():
            proxy = self.proxies.get(key)
            if proxy is None or proxy.spec != spec:
                if proxy:
                    proxy.stop()
                    # A new configuration (e.g. ConfigureHealthCheck) re-adds every instance DOWN: that is no
                    # verdict; registrations keep their state until the new checks pass or fail.
                    self.ever_up = {r for r in self.ever_up if _key(r) != key}
                proxy = Proxy(self.root / _slug(key), self._address(key), spec, self.timings)
                self._start(proxy)
                self.proxies[key] = proxy
            if proxy.running:
                self._sync(key, proxy)
            proxy.refresh_stats()

    def _sync(self, key: tuple[str, str], proxy: Proxy) -> None:
        wanted = {name: (ip, port or proxy.spec.instance_port) for name, (ip, port) in self.registered.get(key, {}).items()}
        try:
            proxy.sync(wanted)
        except (OSError, HaproxyError) as exc:  # retried next tick; said once
            message = f"haproxy for {proxy.spec.name}: {exc}"
            if message not in self.warned:
                self.warned.add(message)
                log.warning(message)

    def added(self, registration: Registration, check: HealthCheck, instance: Any, port: int | None) -> None:
        if instance is not None and instance.private_ip:
            self.registered.setdefault(_key(registration), {})[registration.instance_id] = (instance.private_ip, port or 0)

    def removed(self, registration: Registration) -> None:
        self.ever_up.discard(registration)
        self.registered.get(_key(registration), {}).pop(registration.instance_id, None)

    def observe(self, registration: Registration, health: TargetHealth, check: HealthCheck, instance: Any, now: float) -> None:
        proxy = self.proxies.get(_key(registration))
        stats = proxy.stats.get(registration.instance_id) if proxy else None
        if not stats:
            return
        healthy, unhealthy = healthy_and_unhealthy(registration)
        status = stats.get("status", "")
        if status.startswith("UP"):
            health.state = healthy
            self.ever_up.add(registration)
        elif status.startswith("DOWN") or status == "MAINT":
            failing = stats.get("check_status", "") not in ("L7OK", "L6OK", "L4OK", "INI", "")
            if registration in self.ever_up or (failing and int(stats.get("chkfail") or 0) >= check.unhealthy_threshold):
                health.state = unhealthy
                health.failed_once = True

    # --- balancers -----------------------------------------------------------------------------------
    def routes_to(self, instance_id: str) -> bool:
        """Whether a balancer may still send ``instance_id`` a request: registered, in haproxy, or leaving it
        with requests in flight. (Read from a host's thread while ticks change it: membership tests only.)"""
        if any(instance_id in registered for registered in list(self.registered.values())):
            return True
        return any(instance_id in proxy.servers or instance_id in proxy.leaving for proxy in list(self.proxies.values()))

    def urls(self) -> dict[str, str]:
        """``name`` -> URL an operator reaches the load balancer at."""
        return {proxy.spec.name: proxy.url() for proxy in self.proxies.values()}

    def stop_all(self) -> None:
        for proxy in self.proxies.values():
            proxy.stop()
        self.proxies.clear()
        self.registered.clear()

    def _start(self, proxy: Proxy) -> None:
        try:
            proxy.start()
        except Exception as exc:  # noqa: BLE001 - a broken balancer must not stop the control loops
            log.error("haproxy for %s did not start: %s", proxy.spec.name, exc)

    def _address(self, key: tuple[str, str]) -> str:
        slug = _slug(key)
        if slug not in self.addresses:
            self.addresses[slug] = str(self.network.network_address + 1 + len(self.addresses))
            (self.root / "addresses.json").write_text(json.dumps(self.addresses))
        return self.addresses[slug]

    def _specs(self):
        for _region, elb in regional("elb"):
            for balancer in list(elb.load_balancers.values()):
                check = HealthCheck.classic(getattr(balancer, "health_check", None))
                listeners = tuple(Listener(int(each.load_balancer_port), each.protocol.upper()) for each in balancer.listeners)
                first = balancer.listeners[0] if balancer.listeners else None
                instance_port = int(first.instance_port) if first else check.port
                protocol = first.instance_protocol.upper() if first else check.protocol
                yield (CLASSIC, balancer.name), ProxySpec(CLASSIC, balancer.name, listeners, instance_port, protocol, check)
        for _region, elbv2 in regional("elbv2"):
            forwards: dict[str, list[Listener]] = {}
            for balancer in list(elbv2.load_balancers.values()):
                for listener in list(balancer.listeners.values()):
                    for action in listener.default_actions:
                        target = action.data.get("TargetGroupArn") if hasattr(action, "data") else None
                        if target:
                            forwards.setdefault(target, []).append(Listener(int(listener.port), listener.protocol or "HTTP"))
            for group in list(elbv2.target_groups.values()):
                check = HealthCheck.target_group(group)
                spec = ProxySpec(TARGET_GROUP, group.name, tuple(forwards.get(group.arn, [])), int(group.port or 80),
                                 (group.protocol or "HTTP").upper(), check)
                yield (TARGET_GROUP, group.arn), spec


def _key(registration: Registration) -> tuple[str, str]:
    return (registration.kind, registration.balancer)


def _slug(key: tuple[str, str]) -> str:
    kind, name = key
    readable = name.rsplit("/", 2)[-2] if name.startswith("arn:") else name
    return f"{kind}-{readable}-{hashlib.sha1(name.encode()).hexdigest()[:6]}"


def haproxy_leftovers(run_dir: Path) -> list[str]:
    found = []
    for pid_file in (run_dir / "haproxy").glob("*/haproxy.pid"):
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, 0)
            found.append(f"haproxy pid {pid} ({pid_file.parent.name})")
        except (OSError, ValueError, IndexError):
            pass
    return found
