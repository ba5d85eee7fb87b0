"""PostgreSQL: settings, tuning, pg_hba, the replication and application roles, replicas.

Changes from 1.x, all deliberate:

* settings go to ``conf.d/fabulaws.conf``; a name the server does not know is
  an error before anything changes (1.x silently skipped settings missing from
  the file, and shipped ``checkpoint_segments``, which PostgreSQL 9.5 removed);
* it listens on localhost and the private address, not ``*``;
* clients from ``postgresql_networks`` (default: the VPC's CIDR blocks, discovered;
  1.x allowed all of 10/8 and 172.16/12) must use TLS and SCRAM (1.x downgraded to md5);
* the server's certificate is signed by the environment's CA (the secret ``tls_ca``),
  not Debian's snakeoil one: replicas (and pgbouncer) verify it (``verify-full``);
  TLS 1.2 or later, Mozilla's "intermediate" ciphers;
* the replication role has its own password (``database_replication_password``),
  not the application's;
* passwords reach ``psql`` on stdin and ``pg_basebackup`` through a 0600
  passfile, never a command line; the replica's ``primary_conninfo`` names that
  passfile instead of holding the password.
"""

from __future__ import annotations

import io
import posixpath
import shlex
from dataclasses import dataclass

from ...certificates import CertificateAuthority
from ...errors import ConfigError, DeployError
from ...remote.commands import as_user, join, sudo
from ...remote.files import append, contains, put
from ..system import enable, service
from ..tls import (
    CA_CERTIFICATE,
    install_ca_certificate,
    install_server_certificate,
    server_files,
)
from . import Component, Node

DEFAULT_SETTINGS: dict[str, object] = {
    "max_connections": 80,
    "wal_level": "replica",
    "hot_standby": "on",
    "hot_standby_feedback": "on",
    "max_wal_senders": 5,
    "wal_keep_size": "2GB",
    "wal_buffers": "16MB",
    "checkpoint_completion_target": 0.9,
    "checkpoint_timeout": "10min",
    "max_wal_size": "4GB",
    "log_min_duration_statement": 500,
    "log_checkpoints": "on",
    "log_lock_waits": "on",
    "log_temp_files": 0,
    "commit_delay": 4000,
    "commit_siblings": 5,
    "random_page_cost": 2,
}
PGPASS = "/var/lib/postgresql/.pgpass"
# Mozilla's server-side TLS "intermediate" configuration (TLS 1.2 ciphers; TLS 1.3's are OpenSSL's defaults)
TLS_SETTINGS: dict[str, object] = {
    "ssl_min_protocol_version": "TLSv1.2",
    "ssl_ciphers": "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                   "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                   "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305",
    "ssl_prefer_server_ciphers": "off",
}
SERVICE = "postgresql"  # its certificate and key: /etc/ssl/fabulaws/postgresql.{crt,key}


@dataclass(frozen=True)
class Cluster:
    """The Debian/Ubuntu cluster ``<version>/main``."""

    version: str

    @property
    def config_dir(self) -> str:
        return f"/etc/postgresql/{self.version}/main"

    @property
    def data_dir(self) -> str:
        return f"/var/lib/postgresql/{self.version}/main"

    @property
    def bin_dir(self) -> str:
        return f"/usr/lib/postgresql/{self.version}/bin"


def cluster(node: Node) -> Cluster:
    versions = sudo(node.cxn, "ls /etc/postgresql", hide=True, warn=True).stdout.split()
    if not versions:
        raise DeployError(f"{node.cxn.host}: no PostgreSQL cluster in /etc/postgresql")
    return Cluster(sorted(versions, key=lambda v: [int(p) for p in v.split(".") if p.isdigit()])[-1])


def literal(value: str) -> str:
    """An SQL string literal (standard_conforming_strings is on)."""
    return "'" + value.replace("'", "''") + "'"


def identifier(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def conf_value(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        return str(value)
    return literal(str(value))


def memory_settings(memory_mb: int, max_connections: int) -> dict[str, object]:
    """1.x's RAM-derived resource settings."""
    return {
        "shared_buffers": f"{min(memory_mb // 4, 8096)}MB",
        "work_mem": f"{max(1, 2 * memory_mb // max_connections)}MB",
        "maintenance_work_mem": f"{min(memory_mb // 16, 1024)}MB",
        "effective_cache_size": f"{memory_mb * 7 // 10}MB",
    }


@dataclass(frozen=True)
class Workload:
    """How pgtune shares a server's memory for one workload type."""

    max_connections: int
    cache_fraction: float  # of memory, for effective_cache_size
    work_mem_divisor: int  # workloads with big sorts per query get less per connection
    maintenance_divisor: int  # maintenance_work_mem = memory / this
    statistics_target: int = 100


# pgtune's workload types (postgresql_tune_type), with its rules
WORKLOADS = {
    "Web": Workload(200, 0.75, 1, 16),
    "OLTP": Workload(300, 0.75, 1, 16),
    "DW": Workload(40, 0.75, 2, 8, statistics_target=500),
    "Mixed": Workload(100, 0.75, 2, 16),
    "Desktop": Workload(20, 0.25, 6, 16),
}


def tuned_settings(memory_mb: int, workload_type: str) -> dict[str, object]:
    """pgtune's sizing for ``workload_type`` (postgresql_tune: true): connections, buffers, cache and work memory."""
    workload = WORKLOADS[workload_type]
    shared_mb = memory_mb // (16 if workload_type == "Desktop" else 4)
    work_kb = (memory_mb - shared_mb) * 1024 // (workload.max_connections * 3) // workload.work_mem_divisor
    return {
        "max_connections": workload.max_connections,
        "shared_buffers": f"{shared_mb}MB",
        "effective_cache_size": f"{int(memory_mb * workload.cache_fraction)}MB",
        "maintenance_work_mem": f"{min(memory_mb // workload.maintenance_divisor, 2048)}MB",
        "work_mem": f"{max(64, work_kb)}kB",
        "default_statistics_target": workload.statistics_target,
    }


class Postgres(Component):
    name = "postgresql"
    data_dirs = ("/var/lib/postgresql",)
    services = ("postgresql",)

    def __init__(self, primary: bool) -> None:
        self.primary = primary

    def package_list(self, settings) -> list[str]:
        return list(settings.db_settings.postgresql_packages)

    # --- configuration ---------------------------------------------------------------------------
    def wanted_settings(self, node: Node) -> dict[str, object]:
        db = node.settings.db_settings
        values = dict(DEFAULT_SETTINGS)
        values.update(db.postgresql_settings)
        max_connections = int(str(values.get("max_connections") or 0))
        if db.postgresql_tune:
            tuned = tuned_settings(node.memory_mb, db.postgresql_tune_type)
            values.update({k: v for k, v in tuned.items() if k not in db.postgresql_settings})
        elif max_connections:
            derived = memory_settings(node.memory_mb, max_connections)
            values.update({k: v for k, v in derived.items() if k not in db.postgresql_settings})
        values["listen_addresses"] = f"localhost,{node.address}"
        values.setdefault("password_encryption", "scram-sha-256")
        values["ssl"] = "on"
        return values

    @staticmethod
    def tls_settings() -> dict[str, object]:
        """conf.d/fabulaws-tls.conf: read before fabulaws.conf, so postgresql_settings may still choose otherwise."""
        cert_file, key_file = server_files(SERVICE)
        return {"ssl": "on", "ssl_cert_file": cert_file, "ssl_key_file": key_file, **TLS_SETTINGS}

    @staticmethod
    def networks(node: Node) -> list[str]:
        """Who may connect: postgresql_networks if set, else the server's VPC (discovered)."""
        configured = node.settings.db_settings.postgresql_networks
        return list(configured) if configured is not None else node.networks()

    def install_certificates(self, node: Node) -> bool:
        """The CA certificate (replicas verify the primary with it) and this server's own, signed by the
        environment's CA for its private address and DNS name; whether the server's certificate changed."""
        ca = CertificateAuthority.from_pem(node.secret("tls_ca"))
        install_ca_certificate(node.cxn, ca)
        return install_server_certificate(node.cxn, ca, SERVICE, "postgres", [node.address], [node.private_dns])

    def check_names(self, node: Node, pg: Cluster, values: dict[str, object]) -> None:
        known = as_user(node.cxn, "postgres", join(posixpath.join(pg.bin_dir, "postgres"), "--describe-config"), hide=True).stdout
        names = {line.split("\t", 1)[0] for line in known.splitlines() if line.strip()}
        unknown = sorted(name for name in values if name not in names)
        if unknown:
            raise ConfigError(
                f"db_settings.postgresql_settings: PostgreSQL {pg.version} has no setting {', '.join(unknown)}"
            )

    def configure(self, node: Node) -> None:
        pg = cluster(node)
        db = node.settings.db_settings
        self.install_certificates(node)
        values = self.write_settings(node, pg)
        self.write_tls_settings(node, pg)
        if db.postgresql_tune:
            node.report(f"postgresql_tune: sized as pgtune does for a {db.postgresql_tune_type} workload "
                        f"({values['max_connections']} connections, {node.memory_mb} MiB)")
        self.kernel_settings(node)
        method = "md5" if str(values["password_encryption"]).lower() == "md5" else "scram-sha-256"
        hba = posixpath.join(pg.config_dir, "pg_hba.conf")
        repl_user = self.replication_user(node)
        for network in self.networks(node):
            append(node.cxn, hba, f"hostssl all all {network} {method}")
            append(node.cxn, hba, f"hostssl replication {repl_user} {network} {method}")
        enable(node.cxn, "postgresql")
        if self.primary:
            service(node.cxn, "postgresql", "restart")
            self.create_roles(node)
        else:
            self.copy_primary(node, pg)

    def write_settings(self, node: Node, pg: Cluster) -> dict[str, object]:
        """conf.d/fabulaws.conf; the values written."""
        values = self.wanted_settings(node)
        self.write_conf(node, pg, "fabulaws.conf", "db_settings in fabulaws-config.yml", values)
        return values

    def write_tls_settings(self, node: Node, pg: Cluster) -> bool:
        """conf.d/fabulaws-tls.conf: the server's certificate and Mozilla's intermediate TLS; whether it changed."""
        return self.write_conf(node, pg, "fabulaws-tls.conf", "the environment's CA", self.tls_settings())

    def write_conf(self, node: Node, pg: Cluster, name: str, source: str, values: dict[str, object]) -> bool:
        """One conf.d file, checked against the server's setting names first; whether it changed."""
        self.check_names(node, pg, values)
        conf = f"# Managed by FabulAWS ({source}).\n"
        conf += "".join(f"{key} = {conf_value(value)}\n" for key, value in values.items())
        main_conf = posixpath.join(pg.config_dir, "postgresql.conf")
        if not contains(node.cxn, main_conf, "include_dir = 'conf.d'"):
            append(node.cxn, main_conf, "include_dir = 'conf.d'")
        return put(node.cxn, conf, posixpath.join(pg.config_dir, "conf.d", name), owner="postgres", mode="0644",
                   make_dirs=True)

    def kernel_settings(self, node: Node) -> None:
        db = node.settings.db_settings
        lines = [f"kernel.shmmax = {db.postgresql_shmmax}", f"kernel.shmall = {db.postgresql_shmall}"]
        if db.postgresql_disable_oom:
            lines.append("vm.overcommit_memory = 2")
        path = "/etc/sysctl.d/60-fabulaws-postgresql.conf"
        put(node.cxn, "\n".join(lines) + "\n", path)
        sudo(node.cxn, join("sysctl", "-q", "-p", path), hide=True, warn=True)  # read-only in containers

    # --- roles -----------------------------------------------------------------------------------
    @staticmethod
    def replication_user(node: Node) -> str:
        return f"{node.settings.database_user}_repl"

    def psql(self, node: Node, sql: str, database: str = "postgres") -> str:
        """Run SQL as postgres, fed on stdin (so no password is on a command line or in the server log)."""
        script = "SET log_statement = 'none';\nSET log_min_duration_statement = -1;\n" + sql
        command = join("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", database)
        return as_user(node.cxn, "postgres", command, in_stream=io.StringIO(script), hide=True).stdout

    def ensure_role(self, node: Node, name: str, password: str, options: str) -> None:
        exists = self.psql(node, f"SELECT 1 FROM pg_roles WHERE rolname = {literal(name)};").strip() == "1"
        verb = "ALTER" if exists else "CREATE"
        self.psql(node, f"{verb} ROLE {identifier(name)} WITH {options} PASSWORD {literal(password)};")

    def create_roles(self, node: Node) -> None:
        """The replication role (its own password: 1.x gave it the application's), the application role and its
        database (1.x DbMixin and DbPrimaryMixin)."""
        self.ensure_role(node, self.replication_user(node), node.secret("database_replication_password"),
                         "LOGIN REPLICATION")
        user, database = node.settings.database_user, node.paths.database_name
        self.ensure_role(node, user, node.secret("database_password"), "LOGIN")
        if self.psql(node, f"SELECT 1 FROM pg_database WHERE datname = {literal(database)};").strip() != "1":
            as_user(node.cxn, "postgres", join("createdb", "-E", "UTF-8", "-T", "template0", "-O", user, database), hide=True)

    # --- replicas --------------------------------------------------------------------------------
    def copy_primary(self, node: Node, pg: Cluster) -> None:
        """Replace this cluster by a streaming copy of the primary (pg_basebackup -R)."""
        primary = node.primary_address()
        if not primary:
            raise DeployError(f"{node.cxn.host}: no db-primary in {node.deployment} {node.environment} to replicate from")
        node.report(f"copying the primary database from {primary}")
        user = self.replication_user(node)
        install_ca_certificate(node.cxn, CertificateAuthority.from_pem(node.secret("tls_ca")))  # a replica of 2.x < 3
        self.write_pgpass(node, primary)
        service(node.cxn, "postgresql", "stop", warn=True)
        sudo(node.cxn, f"rm -rf {join(pg.data_dir)}", hide=True)
        # -R writes this connection string (the password stays in the passfile) to primary_conninfo
        as_user(node.cxn, "postgres", join("pg_basebackup", "--checkpoint=fast", "-X", "stream", "-R", "-D", pg.data_dir, "-h", primary,
                                           "-U", user, "-w", "-d", replication_conninfo()), hide=True)
        service(node.cxn, "postgresql", "start")

    def write_pgpass(self, node: Node, primary: str) -> bool:
        """The replication role's password for ``primary``, in postgres's 0600 passfile."""
        line = f"{primary}:*:replication:{self.replication_user(node)}:"
        return put(node.cxn, line + _escape_pgpass(node.secret("database_replication_password")) + "\n", PGPASS,
                   owner="postgres", mode="0600")

    # --- existing servers (created before the environment had a CA) ----------------------------------------------
    def update_tls(self, node: Node) -> bool:
        """The CA-signed certificate and the TLS settings, reloaded into the running server (no restart: clients
        stay connected); whether anything changed."""
        pg = cluster(node)
        changed = self.install_certificates(node)
        changed = self.write_tls_settings(node, pg) or changed
        if changed:
            service(node.cxn, "postgresql", "reload")
        return changed

    def follow_verified(self, node: Node, primary: str) -> bool:
        """A replica: the replication role's own password in its passfile, and a primary_conninfo that verifies
        ``primary``; reloaded (the WAL receiver reconnects) when either changed. Whether anything did."""
        changed = self.write_pgpass(node, primary)
        wanted = f"user={self.replication_user(node)} host={primary} port=5432 {replication_conninfo()}"
        current = self.psql(node, "SHOW primary_conninfo;").strip()
        if not set(wanted.split()) <= set(shlex.split(current)):  # pg_basebackup -R quotes some values
            self.psql(node, f"ALTER SYSTEM SET primary_conninfo = {literal(wanted)};")
            changed = True
        if changed:
            service(node.cxn, "postgresql", "reload")
        return changed

    def promote(self, node: Node) -> None:
        pg = cluster(node)
        as_user(node.cxn, "postgres", join(posixpath.join(pg.bin_dir, "pg_ctl"), "-D", pg.data_dir, "promote"), hide=True)


def replication_conninfo() -> str:
    """How a replica reaches its primary: the passfile, and a server verified against the environment's CA."""
    return f"passfile={PGPASS} sslmode=verify-full sslrootcert={CA_CERTIFICATE}"


def _escape_pgpass(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")
