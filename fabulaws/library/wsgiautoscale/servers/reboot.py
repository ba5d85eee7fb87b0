"""An ordered reboot of an environment, each server waited for until it serves again (1.x ``reboot_environment``).

1.x rebooted every server at once, slept 180 s and hoped. Here the order is the one the application needs:
the primary database and the cache, then the replicas, then the workers, each stage waited for; then the web
servers one at a time, each taken out of its load balancers first and put back once healthy, so the site keeps
serving from the others. "Back" means what a client needs, not a fixed time: SSH answers with a new boot id,
LUKS volumes are open again (``unlock.py``), and the role's services answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ....aws import Aws, instances, scaling
from ....aws import balancers as lb
from ....aws.instances import find_instances
from ....remote.commands import sudo
from ....remote.connect import NOT_YET, RemoteTimeout
from ....remote.hostkeys import KnownHosts
from ....waits import Polling, Wait, wait_for
from ..deploy.fleet import healthy_everywhere
from ..stack import PRIMARY_ROLES, REPLICA_ROLES, Server, Stack
from .each import Connections

# The kernel's boot id changes at each boot; in a container (the sandbox's hosts share one kernel) PID 1's start
# time (field 22 of /proc/1/stat, in clock ticks since the kernel booted) does. Together: a boot's identity.
BOOT_ID = "cat /proc/sys/kernel/random/boot_id && cut -d' ' -f22 /proc/1/stat"
SUPERVISOR_RUNNING = ("out=$(supervisorctl status 2>&1); [ -n \"$out\" ] && "
                      "! printf '%s\\n' \"$out\" | grep -v -q RUNNING")
POSTGRES = ("postgres accepting connections", "pg_isready -q")
# What "up" means per role: (label, command that exits 0 once it is so), run with sudo.
READINESS: dict[str, tuple[tuple[str, str], ...]] = {
    "db-primary": (POSTGRES,),
    "db-replica": (POSTGRES,),
    "cache": (
        # plain, else TLS (redis_tls; a TLS client waits forever on a plain server); the CA is not given: answering
        # is the question, not who
        ("redis answering", "timeout 5 redis-cli -h 127.0.0.1 ping 2>&1 | grep -qE 'PONG|NOAUTH' || "
                            "timeout 5 redis-cli --tls --insecure -h 127.0.0.1 ping 2>&1 | grep -qE 'PONG|NOAUTH'"),
        # the binary protocol's VERSION (0x80 0x0b, 22 zero bytes), answered (0x81) before SASL authentication
        ("memcached answering", "timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/11211 && printf \"\\x80\\x0b" + "\\x00" * 22
                                + "\" >&3 && head -c 1 <&3 | od -An -tx1' | grep -q 81"),
        ("rabbitmq answering", "timeout 20 rabbitmqctl -q await_startup"),
    ),
    "worker": (("supervisor programs RUNNING", SUPERVISOR_RUNNING),),
    "web": (("supervisor programs RUNNING", SUPERVISOR_RUNNING), ("nginx running", "pgrep -x nginx")),
}
READINESS["db-master"] = READINESS["db-primary"]
READINESS["db-slave"] = READINESS["db-replica"]
READINESS["combo"] = READINESS["db-primary"] + READINESS["web"]
# What would replace a web server while it reboots (its health check fails meanwhile).
REPLACING = ("HealthCheck", "ReplaceUnhealthy", "AZRebalance")
OUT_OF_SERVICE = ("OutOfService", "unused")


@dataclass(frozen=True)
class Stage:
    """Servers rebooted together; ``web``: one at a time, each out of its load balancers meanwhile."""

    name: str
    servers: tuple[Server, ...]
    web: bool = False


def plan_reboot(stack: Stack) -> list[Stage]:
    """The stages of an environment's reboot, each server in the first stage that has it (a combo server is a
    database first). Stages with no server are left out. Pure."""
    wanted = (
        ("database primary and cache", (*PRIMARY_ROLES, "cache"), False),
        ("database replicas", REPLICA_ROLES, False),
        ("workers", ("worker",), False),
        ("web servers", ("web",), True),
    )
    seen: set[str] = set()
    stages = []
    for name, stage_roles, web in wanted:
        members = []
        for role in stage_roles:
            for server in stack.by_role(role):
                if server.instance_id not in seen:
                    seen.add(server.instance_id)
                    members.append(server)
        if members:
            stages.append(Stage(name, tuple(members), web))
    return stages


def readiness_checks(server_roles: list[str]) -> list[tuple[str, str]]:
    """The readiness checks of a server's roles, each once."""
    checks: list[tuple[str, str]] = []
    for role in server_roles:
        checks += [check for check in READINESS.get(role, ()) if check not in checks]
    return checks


def boot_id(cxn: object) -> str:
    """The identity of the server's current boot (see BOOT_ID)."""
    return " ".join(cxn.run(BOOT_ID, hide=True).stdout.split())  # type: ignore[attr-defined]


@dataclass
class Rebooter:
    """Reboots servers of one environment and waits until each is back; how to reach and unlock them."""

    aws: Aws
    stack: Stack
    connections: Connections
    deadline: float  # seconds each server (or stage) may take to come back, and each load balancer wait
    polling: Polling
    report: Callable[[str], None]
    unlock: Callable[[object, Server], str] | None = None  # LUKS: open the volumes of a server just booted
    known: KnownHosts | None = None

    def __post_init__(self) -> None:
        self.known = self.known or KnownHosts()

    def label(self, server: Server) -> str:
        return f"{'/'.join(self.stack.roles_of(server)) or server.role} server {server.hostname or server.private_ip} " \
               f"({server.instance_id})"

    # --- one stage -----------------------------------------------------------------------------
    def reboot(self, servers: list[Server]) -> None:
        """Reboot ``servers`` together and wait until every one is back (new boot, volumes open, services up)."""
        before = {}
        for server in servers:
            cxn = self.connections.open(server, self.known)
            try:
                before[server.instance_id] = boot_id(cxn)
            finally:
                cxn.close()
        for server in servers:
            self.report(f"Rebooting {self.label(server)}")
        instances.reboot(self.aws.ec2, [server.instance_id for server in servers])
        waiting = {server.instance_id: "still on its old boot" for server in servers}
        by_id = {server.instance_id: server for server in servers}

        def look() -> dict[str, str]:
            for instance_id in list(waiting):
                why = self._back(by_id[instance_id], before[instance_id])
                if why is None:
                    del waiting[instance_id]
                    self.report(f"{self.label(by_id[instance_id])} is back")
                else:
                    waiting[instance_id] = why
            return dict(waiting)

        what = f"{len(servers)} server(s) back after their reboot" if len(servers) > 1 else \
            f"{self.label(servers[0])} back after its reboot"
        wait_for(Wait(what, look, lambda left: not left,
                      lambda left: "; ".join(f"{i}: {why}" for i, why in sorted(left.items())),
                      deadline=self.deadline), self.polling, self.report)

    def _back(self, server: Server, before: str) -> str | None:
        """None once the server runs a new boot with its services up; else why not yet."""
        try:
            cxn = self.connections.open(server, self.known)
        except NOT_YET as exc:
            return _one_line(exc)
        try:
            found = cxn.run(BOOT_ID, hide=True, warn=True)
            if not found.ok:
                return "no boot id yet"
            if " ".join(found.stdout.split()) == before:
                return "still on its old boot"
            if self.unlock is not None:
                self.unlock(cxn, server)
            down = [label for label, command in readiness_checks(self.stack.roles_of(server))
                    if not sudo(cxn, command, hide=True, warn=True).ok]
            return f"waiting for {', '.join(down)}" if down else None
        except (*NOT_YET, RemoteTimeout) as exc:
            return _one_line(exc)
        finally:
            cxn.close()

    # --- web servers, one at a time ---------------------------------------------------------------
    def reboot_web(self, web: Server, webs: list[Server], balancers: list[lb.Balancer]) -> None:
        """Wait until every web server is healthy, take ``web`` out of the load balancers, reboot it, put it back
        and wait until it is healthy again (it is put back even if it failed to come back)."""
        if balancers:
            self._wait_healthy([w.instance_id for w in webs], "web servers healthy before the next is taken out")
            for balancer in balancers:
                self.report(f"Removing {web.instance_id} from {balancer}")
                lb.deregister(self.aws, balancer, [web.instance_id])
            self._wait_out(web.instance_id, balancers)
        try:
            self.reboot([web])
        finally:
            for balancer in balancers:
                self.report(f"Adding {web.instance_id} to {balancer}")
                lb.register(self.aws, balancer, [web.instance_id])
        if balancers:
            self._wait_healthy([web.instance_id], f"{web.instance_id} healthy again")

    def _wait_out(self, instance_id: str, balancers: list[lb.Balancer]) -> None:
        wait_for(Wait(f"{instance_id} out of service (no new requests routed to it)",
                      lambda: lb.health(self.aws, balancers, [instance_id]),
                      lambda seen: all(state in OUT_OF_SERVICE for per in seen.values() for state in per.values()),
                      lb.describe_health, deadline=self.deadline), self.polling, self.report)

    def _wait_healthy(self, instance_ids: list[str], what: str) -> None:
        balancers = lb.find_balancers(self.aws, self.stack.load_balancer_names, self.stack.target_group_names)

        def look() -> tuple[dict[str, dict[str, str]], list[str]]:
            running = {i["InstanceId"] for i in find_instances(self.aws.ec2, {}, ids=instance_ids)}
            return lb.health(self.aws, balancers, instance_ids), [i for i in instance_ids if i not in running]

        wait_for(healthy_everywhere(what, look, "no longer running (terminated or replaced)", self.deadline),
                 self.polling, self.report)

    # --- the whole environment ----------------------------------------------------------------------
    def run(self, stages: list[Stage]) -> list[str]:
        """Every stage in order; the instance ids rebooted, in order."""
        done: list[str] = []
        balancers = lb.find_balancers(self.aws, self.stack.load_balancer_names, self.stack.target_group_names)
        for stage in stages:
            self.report(f"Rebooting the {stage.name}: {', '.join(s.instance_id for s in stage.servers)}")
            if stage.web:
                for web in stage.servers:
                    self.reboot_web(web, list(stage.servers), balancers)
                    done.append(web.instance_id)
            else:
                self.reboot(list(stage.servers))
                done += [server.instance_id for server in stage.servers]
        return done


@contextlib.contextmanager
def replacement_held(autoscaling: object, group_name: str | None, report: Callable[[str], None]) -> Iterator[list[str]]:
    """Within: the web group's processes that would replace a rebooting server (REPLACING) are suspended; on the
    way out, even on failure, those this suspended are resumed (ones suspended before are left as they were)."""
    if not group_name:
        yield []
        return
    held = scaling.Processes(autoscaling, group_name, REPLACING)  # a group that does not exist holds nothing
    held.suspend()
    if held.ours:
        report(f"Suspended {', '.join(held.ours)} on {group_name} while its servers reboot")
    try:
        yield held.ours
    finally:
        if held.ours:
            held.resume()
            report(f"Resumed {', '.join(held.ours)} on {group_name}")


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:200]


__all__ = ["READINESS", "REPLACING", "Rebooter", "Stage", "boot_id", "plan_reboot", "readiness_checks",
           "replacement_held"]
