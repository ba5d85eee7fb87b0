"""An environment's PostgreSQL replicas: re-copied from the primary, or one promoted in its place.

A promotion loses no committed row: the old primary is stopped cleanly first (fenced: nothing more can commit
there, and it stays off at boot), its last WAL position is read from its control file, and the replica is
promoted only once it has replayed up to that position. Every step checks before it changes, so running the
task again after a failure goes on from where it stopped.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass

from fabric import Connection

from ....aws import Aws
from ....aws import tags as tagging
from ....aws.instances import describe
from ....errors import DeployError, UsageError
from ....remote.commands import as_user, join, sudo
from ....remote.files import exists
from ....ubuntu import system
from ....ubuntu.packages import Node
from ....ubuntu.packages.postgres import Postgres, cluster
from ....waits import Polling, Wait, wait_for
from ..environment import Environment
from ..stack import PRIMARY_ROLES, REPLICA_ROLES, Server, Stack

PRIMARY = "db-primary"
RETIRED = "OLD"  # 1.x's suffix for decommissioned servers: invisible to discovery, kept until terminated


def parse_lsn(text: str) -> int:
    """A WAL position (``16/B374D848``) as a number, so two positions compare."""
    high, sep, low = text.strip().partition("/")
    if not sep:
        raise DeployError(f"not a WAL position: {text.strip()!r}")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass(frozen=True)
class Promotion:
    """Which replica becomes the primary, which primaries are fenced, which replicas follow the new one."""

    target: Server
    fenced: list[Server]
    followers: list[Server]


def plan_promotion(stack: Stack, index: int) -> Promotion:
    """The promotion of replica ``index`` (oldest first, as ``describe`` lists them); UsageError naming the
    replicas there are if there is no such replica."""
    replicas = [db.server for db in stack.replica_databases]
    if not 0 <= index < len(replicas):
        found = ", ".join(f"{i}: {s.hostname or s.private_ip} ({s.instance_id})" for i, s in enumerate(replicas))
        raise UsageError(
            f"promote_replica: index={index}: {stack.deployment} {stack.environment} has "
            f"{len(replicas)} db-replica server(s){': ' + found if found else ''}")
    target = replicas[index]
    primaries = [s for role in PRIMARY_ROLES for s in stack.by_role(role) if s.instance_id != target.instance_id]
    return Promotion(target, primaries, [s for s in replicas if s.instance_id != target.instance_id])


def database_node(cxn: Connection, env: Environment, server: Server, secret: Callable[[str], str],
                  primary_address: str = "", report: Callable[[str], None] = lambda line: None) -> Node:
    """What the Postgres component needs to act on an existing database server."""
    return Node(cxn=cxn, settings=env.settings, deployment=env.deployment, environment=env.environment, role=server.role,
                address=server.private_ip, memory_mb=system.memory_mb(cxn), secret=secret, paths=env.paths,
                primary_address=lambda: primary_address, report=report, private_dns=server.private_dns)


# --- facts -------------------------------------------------------------------------------------------------
def in_recovery(node: Node) -> bool:
    """Whether the server is still a standby (reads ``pg_is_in_recovery()``; PostgreSQL must be running)."""
    return Postgres(primary=False).psql(node, "SELECT pg_is_in_recovery();").strip() == "t"


def replayed(node: Node) -> int:
    """How far the standby has replayed the primary's WAL."""
    return parse_lsn(Postgres(primary=False).psql(node, "SELECT pg_last_wal_replay_lsn();"))


def stopped_at(node: Node) -> int:
    """The last WAL position of a cleanly stopped cluster (its shutdown checkpoint, from the control file);
    DeployError if the cluster was not shut down cleanly (then rows may exist only there)."""
    pg = cluster(node)
    out = as_user(node.cxn, "postgres", join("env", "LC_ALL=C", posixpath.join(pg.bin_dir, "pg_controldata"), "-D",
                                              pg.data_dir), hide=True).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    state = fields.get("Database cluster state", "").strip()
    if state != "shut down":
        raise DeployError(f"{node.cxn.host}: PostgreSQL is {state or 'in an unknown state'}, not cleanly shut down; "
                          "check it, stop it (`sudo service postgresql stop`) and run the task again")
    return parse_lsn(fields["Latest checkpoint location"])


# --- operations ----------------------------------------------------------------------------------------------
def fence(node: Node) -> int:
    """Stop PostgreSQL on the old primary and keep it off at boot; returns its last WAL position. Idempotent."""
    system.service(node.cxn, "postgresql", "stop")
    if exists(node.cxn, "/run/systemd/system"):
        sudo(node.cxn, join("systemctl", "disable", "postgresql"), hide=True, warn=True)
    else:
        sudo(node.cxn, join("update-rc.d", "postgresql", "disable"), hide=True, warn=True)
    return stopped_at(node)


def unfence(node: Node) -> None:
    """Undo of ``fence`` (a switch rolled back before anything used the new primary): started, and at boot."""
    system.enable(node.cxn, "postgresql")
    system.service(node.cxn, "postgresql", "start")


def wait_caught_up(node: Node, position: int, deadline: float, polling: Polling, report: Callable[[str], None]) -> None:
    """Until the standby has replayed the old primary's last WAL position (every committed row is there)."""
    wait_for(Wait(f"{node.cxn.host}: replica replaying the old primary's last WAL", lambda: replayed(node),
                  lambda seen: seen >= position, lambda seen: f"{(position - seen) // 1024} kB behind", deadline=deadline),
             polling, report)


def promote(node: Node, deadline: float, polling: Polling, report: Callable[[str], None]) -> None:
    """``pg_ctl promote``, then wait until it accepts writes (skipped if it already does)."""
    if in_recovery(node):
        Postgres(primary=False).promote(node)
    wait_for(Wait(f"{node.cxn.host}: PostgreSQL accepting writes", lambda: in_recovery(node), lambda standby: not standby,
                  lambda standby: "still in recovery", deadline=deadline), polling, report)


def recopy(node: Node) -> None:
    """Replace the replica's cluster by a fresh copy of ``node.primary_address()`` (1.x's pg_copy_master)."""
    component = Postgres(primary=False)
    component.copy_primary(node, cluster(node))


# --- tags ----------------------------------------------------------------------------------------------------
def role_tags(env: Environment, role: str) -> dict[str, str]:
    return {"role": role, "Name": f"{env.deployment}_{env.environment}_{role}"}


def retag(aws: Aws, env: Environment, server: Server, role: str) -> None:
    """Give ``server`` (and its volumes) ``role``: ``db-primary-OLD`` makes it invisible to every task."""
    tagging.add(aws.ec2, [server.instance_id], role_tags(env, role))
    instance = describe(aws.ec2, server.instance_id)
    volume_ids = [m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m]
    if volume_ids:
        tagging.add(aws.ec2, volume_ids, {"role": role})


def wait_roles(aws: Aws, env: Environment, wanted: dict[str, str], deadline: float, polling: Polling,
               report: Callable[[str], None]) -> Stack:
    """Until discovery sees every instance in ``wanted`` with its role (EC2 tags are eventually consistent)."""

    def look() -> tuple[Stack, list[str]]:
        stack = Stack.discover(env, aws.ec2)
        seen = {s.instance_id: s.role for s in stack.all_servers()}
        return stack, [i for i, role in wanted.items() if not _matches(seen.get(i), role)]

    stack, _ = wait_for(Wait("the new roles read back from EC2", look, lambda found: not found[1],
                             lambda found: f"not yet: {', '.join(found[1])}", deadline=deadline), polling, report)
    return stack


def _matches(seen: str | None, wanted: str) -> bool:
    """A retired role is invisible to discovery: gone from it is what was wanted."""
    return seen is None if wanted.endswith(f"-{RETIRED}") else seen == wanted


def retired(role: str) -> str:
    return f"{role}-{RETIRED}"


__all__ = ["PRIMARY", "REPLICA_ROLES", "Promotion", "database_node", "fence", "parse_lsn", "plan_promotion",
           "promote", "recopy", "retag", "retired", "stopped_at", "unfence", "wait_caught_up", "wait_roles"]
