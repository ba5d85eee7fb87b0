"""The servers of one (deployment, environment) by role, and its databases: an Environment plus what EC2 says.

Built once per task from EC2 tags; plain data, no globals.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from ...aws import tags as aws_tags
from ...aws.instances import find_instances, tag
from ...aws.types import Client
from ...config import Settings
from ...errors import UsageError
from .environment import Environment
from .paths import Paths

PRIMARY_ROLES = ("db-primary", "db-master")  # db-master/db-slave: names from early 1.x
REPLICA_ROLES = ("db-replica", "db-slave")
COMBO_ALSO_SERVES = ("db-primary", "web", "worker")
FIRST_STUNNEL_PORT = 7432


@dataclass(frozen=True)
class Server:
    """A running EC2 instance as FabulAWS sees it."""

    instance_id: str
    role: str
    hostname: str
    private_ip: str
    private_dns: str
    public_ip: str
    public_dns: str
    availability_zone: str
    launch_time: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def from_instance(cls, instance: dict, ssh_attribute: str) -> Server:
        return cls(
            instance_id=instance["InstanceId"],
            role=tag(instance, "role", "") or "",
            hostname=instance.get(ssh_attribute) or "",
            private_ip=instance.get("PrivateIpAddress") or "",
            private_dns=instance.get("PrivateDnsName") or "",
            public_ip=instance.get("PublicIpAddress") or "",
            public_dns=instance.get("PublicDnsName") or "",
            availability_zone=instance.get("Placement", {}).get("AvailabilityZone", ""),
            launch_time=instance.get("LaunchTime"),
            tags=aws_tags.of(instance),
        )

    @property
    def names(self) -> set[str]:
        """Every name ``-H`` may use for this server."""
        names = {self.hostname, self.private_ip, self.private_dns, self.public_ip, self.public_dns, self.instance_id}
        return names - {""}


@dataclass(frozen=True)
class Database:
    """A PostgreSQL server as the application sees it through pgbouncer and stunnel."""

    key: str  # Django database alias: "default", "replica0", ...
    name: str  # local database name pgbouncer exposes
    server: Server
    stunnel_port: int


@dataclass
class Stack:
    """One environment (its configured names: ``env``) and the servers found running in it, by role."""

    env: Environment
    servers: dict[str, list[Server]]

    @classmethod
    def discover(cls, env: Environment, ec2: Client) -> Stack:
        """Find the environment's running servers (one paginated DescribeInstances for all roles)."""
        instances = find_instances(ec2, {"deployment": env.deployment, "environment": env.environment})
        found = [Server.from_instance(i, env.settings.ssh_attribute) for i in instances]
        return cls.from_servers(env, found)

    @classmethod
    def from_servers(cls, env: Environment, found: list[Server]) -> Stack:
        """Group servers by role; roles outside ``valid_roles`` (``-PENDING``, ``-OLD``) are left out."""
        ordered = sorted(found, key=lambda s: (s.launch_time.timestamp() if s.launch_time else 0.0, s.instance_id))
        servers: dict[str, list[Server]] = {role: [] for role in env.settings.valid_roles}
        for server in ordered:
            if server.role in servers:
                servers[server.role].append(server)
        for combo in servers.get("combo", []):
            for role in COMBO_ALSO_SERVES:
                servers.setdefault(role, []).append(combo)
        return cls(env, servers)

    def narrowed(self, hosts: list[str]) -> Stack:
        """Only the servers ``hosts`` (``-H``) name, by host name, address, DNS name or instance id.

        Roles none of them serves keep all their servers (``-H web2`` narrows the web
        servers only). A host that names no server of the environment is a UsageError:
        acting on every server of its role instead would be a guess.
        """
        if not hosts:
            return self
        unmatched = [host for host in hosts if not any(host in s.names for s in self.all_servers())]
        if unmatched:
            known = ", ".join(sorted(s.hostname or s.instance_id for s in self.all_servers())) or "none"
            raise UsageError(
                f"-H {','.join(unmatched)}: no server of {self.deployment} {self.environment} has that name "
                f"(its servers: {known})"
            )
        servers = {}
        for role, members in self.servers.items():
            chosen = [s for s in members if s.names & set(hosts)]
            servers[role] = chosen if chosen else members
        return replace(self, servers=servers)

    # --- servers -----------------------------------------------------------------------
    def by_role(self, role: str) -> list[Server]:
        return list(self.servers.get(role, []))

    def all_servers(self) -> list[Server]:
        """Every server once (combo servers appear under several roles)."""
        unique: dict[str, Server] = {}
        for members in self.servers.values():
            for server in members:
                unique.setdefault(server.instance_id, server)
        return list(unique.values())

    def roles_of(self, server: Server) -> list[str]:
        """Roles ``server`` serves, in ``valid_roles`` order (combo servers have several)."""
        return [role for role, members in self.servers.items() if server in members]

    @property
    def cache_server(self) -> Server | None:
        caches = self.by_role("cache")
        return caches[0] if caches else None

    @property
    def primary_database(self) -> Database | None:
        return self.all_databases[0] if self._primaries() else None

    @property
    def replica_databases(self) -> list[Database]:
        return [db for db in self.all_databases if db.key != "default"]

    @property
    def all_databases(self) -> list[Database]:
        """Primary then replicas (oldest first, so keys and stunnel ports are stable)."""
        databases = []
        primaries = self._primaries()
        if primaries:
            databases.append(Database("default", self.paths.database_name, primaries[0], FIRST_STUNNEL_PORT))
        for index, server in enumerate(self._replicas()):
            port = FIRST_STUNNEL_PORT + len(databases)
            databases.append(Database(f"replica{index}", f"{self.paths.database_name}_replica{index}", server, port))
        return databases

    def _primaries(self) -> list[Server]:
        return [s for role in PRIMARY_ROLES for s in self.servers.get(role, [])]

    def _replicas(self) -> list[Server]:
        return [s for role in REPLICA_ROLES for s in self.servers.get(role, [])]

    # --- names from the configuration (the Environment's) ----------------------------------
    @property
    def settings(self) -> Settings:
        return self.env.settings

    @property
    def deployment(self) -> str:
        return self.env.deployment

    @property
    def environment(self) -> str:
        return self.env.environment

    @property
    def paths(self) -> Paths:
        return self.env.paths

    @property
    def group_name(self) -> str:
        return self.env.group_name

    @property
    def load_balancer_names(self) -> list[str]:
        return self.env.load_balancer_names

    @property
    def target_group_names(self) -> list[str]:
        return self.env.target_group_names

    @property
    def branch(self) -> str:
        return self.env.branch

    @property
    def server_port(self) -> int:
        return self.env.server_port

    @property
    def site_domains(self) -> list[str]:
        return self.env.site_domains

    @property
    def log_files(self) -> list[tuple[str, str, str | None]]:
        return self.env.log_files
