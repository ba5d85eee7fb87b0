"""The cache role's services: Redis, memcached and RabbitMQ, on the private network only, each with its own credential.

1.x bound Redis and memcached to every interface, Redis and memcached without a
password; here each listens on the private address and localhost, and:

* Redis has one ACL user, ``deploy_user`` with ``redis_password`` (the default
  user is off), denied the ``@admin`` commands (CONFIG, DEBUG, SAVE...: an
  application that is broken into cannot make Redis write files); redis.conf
  holds the password's SHA-256, not the password; with ``redis_tls`` it speaks
  TLS only, with a certificate from the environment's CA;
* memcached requires SASL (binary protocol): ``deploy_user`` with
  ``memcached_password`` in a sasldb only memcached can read;
* RabbitMQ keeps ``deploy_user``/``broker_password`` and loses ``guest``; its
  epmd and Erlang distribution listen on 127.0.0.1 only (no clustering here).

Passwords travel in files (SFTP) or on stdin, never on a command line.
"""

from __future__ import annotations

import hashlib
import io
import logging

from ...certificates import CertificateAuthority
from ...errors import DeployError
from ...remote.commands import join, sudo
from ...remote.files import append, exists, put
from ...waits import Polling, Wait, wait_for
from ..system import await_listening, enable, service
from ..tls import (
    CA_CERTIFICATE,
    install_ca_certificate,
    install_server_certificate,
    server_files,
)
from . import Component, Node

REDIS_INCLUDE = "/etc/redis/fabulaws.conf"
MEMCACHED_CONF = "/etc/memcached.conf"
MEMCACHED_SASL_CONF = "/etc/sasl2/memcached.conf"  # where libsasl2 looks for the "memcached" application
MEMCACHED_SASLDB = "/etc/sasl2/memcached-sasldb2"
RABBITMQ_CONF = "/etc/rabbitmq/rabbitmq.conf"
RABBITMQ_ENV = "/etc/rabbitmq/rabbitmq-env.conf"
EPMD_SOCKET_DROPIN = "/etc/systemd/system/epmd.socket.d/fabulaws.conf"
# seconds RabbitMQ may take to start, however many attempts that is: each ``await_startup`` blocks while the node
# boots (up to its own timeout), so a fixed number of attempts alone does not bound the wait
START_DEADLINE = 1200
log = logging.getLogger(__name__)
# The node is rabbit@localhost: its CLI tools find it through epmd on 127.0.0.1 (the hostname resolves to the
# private address, where nothing answers now); 1.x's rabbit@<hostname> kept its data under another name.
RABBITMQ_ENV_TEXT = """\
# Managed by FabulAWS: epmd and the Erlang distribution listen on localhost only (no clustering).
NODENAME=rabbit@localhost
export ERL_EPMD_ADDRESS=127.0.0.1
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
"""
EPMD_SOCKET_TEXT = "# Managed by FabulAWS: epmd on localhost only.\n[Socket]\nListenStream=\nListenStream=127.0.0.1:4369\n"


class Redis(Component):
    name = "redis"
    packages = ("redis-server",)
    data_dirs = ("/var/lib/redis",)
    services = ("redis-server",)

    def configure(self, node: Node) -> None:
        tls = node.settings.redis_tls
        if tls:  # a certificate from the environment's CA, for the private address (and localhost's clients)
            ca = CertificateAuthority.from_pem(node.secret("tls_ca"))
            install_ca_certificate(node.cxn, ca)
            install_server_certificate(node.cxn, ca, "redis", "redis", [node.address, "127.0.0.1"])
        text = redis_conf(node.address, node.settings.deploy_user, node.secret("redis_password"), tls=tls)
        put(node.cxn, text, REDIS_INCLUDE, owner="redis", group="redis", mode="0640")
        append(node.cxn, "/etc/redis/redis.conf", f"include {REDIS_INCLUDE}")
        enable(node.cxn, "redis-server")
        service(node.cxn, "redis-server", "restart")
        await_listening(node.cxn, "Redis", node.address, 6379)


def redis_conf(address: str, user: str, password: str, tls: bool = False) -> str:
    """FabulAWS's part of redis.conf: where Redis listens (with ``tls``: TLS only, on the same port) and its one
    user (the password as its SHA-256)."""
    digest = hashlib.sha256(password.encode()).hexdigest()
    lines = [
        "# Managed by FabulAWS (included last from redis.conf, so it wins).",
        f"bind {address} 127.0.0.1",
        "protected-mode yes",
        "loglevel notice",
        "tcp-keepalive 60",
        # no password-only AUTH: the default user is off, clients name theirs (redis://user:password@...)
        "user default off",
        f"user {redis_quote(user)} on {redis_quote('#' + digest)} ~* &* +@all -@admin",
    ]
    if tls:
        certificate, key = server_files("redis")
        lines += ["port 0", "tls-port 6379", f"tls-cert-file {certificate}", f"tls-key-file {key}",
                  f"tls-ca-cert-file {CA_CERTIFICATE}", "tls-auth-clients no",  # clients prove themselves by password
                  'tls-protocols "TLSv1.2 TLSv1.3"']
    return "\n".join(lines) + "\n"


def redis_quote(value: str) -> str:
    """A double-quoted redis.conf argument: spaces, quotes and any byte survive (``\\xHH`` escapes)."""
    escaped = "".join(ch if ch.isprintable() and ch not in '"\\' else "".join(f"\\x{b:02x}" for b in ch.encode())
                      for ch in value)
    return f'"{escaped}"'


class Memcached(Component):
    """memcached with 1.x's CacheMixin sizing (10000 connections, 5 threads, half the memory), SASL required.

    The sasldb entry's realm is the server's hostname, which memcached also uses: both are read on the server.
    """

    name = "memcached"
    packages = ("memcached", "sasl2-bin", "libsasl2-modules")  # saslpasswd2; the PLAIN mechanism
    services = ("memcached",)

    def configure(self, node: Node) -> None:
        options = {
            "-l": f"{node.address},127.0.0.1",
            "-c": "10000",
            "-m": str(max(64, node.memory_mb // 2)),
            "-t": "5",
            "-p": "11211",
            "-U": "0",
            "-u": "memcache",
        }
        text = ("# Managed by FabulAWS.\n-d\nlogfile /var/log/memcached.log\n" + "".join(f"{k} {v}\n" for k, v in options.items())
                + "# SASL authentication (binary protocol only): see " + MEMCACHED_SASL_CONF + "\n-S\n")
        put(node.cxn, f"mech_list: plain\nsasldb_path: {MEMCACHED_SASLDB}\n", MEMCACHED_SASL_CONF, make_dirs=True)
        set_sasl_password(node, node.settings.deploy_user, node.secret("memcached_password"))
        put(node.cxn, text, MEMCACHED_CONF)
        append(node.cxn, "/etc/default/memcached", "ulimit -n 20000")
        enable(node.cxn, "memcached")
        service(node.cxn, "memcached", "restart")
        await_listening(node.cxn, "memcached", node.address, 11211)


def set_sasl_password(node: Node, user: str, password: str) -> None:
    """A new sasldb holding only ``user``, readable by memcached alone. The password reaches saslpasswd2's stdin
    from a root-only file (SFTP): fed over the SSH channel, it raced saslpasswd2's exit on loaded hosts."""
    new, secret = MEMCACHED_SASLDB + ".new", MEMCACHED_SASLDB + ".password"
    sudo(node.cxn, join("rm", "-f", new), hide=True)
    try:
        put(node.cxn, password + "\n", secret, mode="0600")
        made = sudo(node.cxn, f"{join('saslpasswd2', '-p', '-c', '-a', 'memcached', '-f', new, user)} < {join(secret)}",
                    hide=True, warn=True)
        if not made.ok:
            raise DeployError(f"{node.cxn.host}: saslpasswd2 could not write memcached's user {user}: "
                              f"{(made.stderr or made.stdout).strip() or f'exit status {made.exited}'}")
        sudo(node.cxn, join("install", "-o", "root", "-g", "memcache", "-m", "0640", new, MEMCACHED_SASLDB), hide=True)
    finally:
        sudo(node.cxn, join("rm", "-f", new, secret), hide=True, warn=True)


class RabbitMQ(Component):
    """The broker: user ``deploy_user`` with ``broker_password`` and full rights on vhost ``<project>_<env>``."""

    name = "rabbitmq"
    packages = ("rabbitmq-server",)
    data_dirs = ("/var/lib/rabbitmq",)
    services = ("rabbitmq-server",)
    start_attempts = 10

    def configure(self, node: Node) -> None:
        config = f"# Managed by FabulAWS.\nlisteners.tcp.1 = 127.0.0.1:5672\nlisteners.tcp.2 = {node.address}:5672\n"
        put(node.cxn, config, RABBITMQ_CONF, owner="rabbitmq", group="rabbitmq", mode="0640")
        put(node.cxn, RABBITMQ_ENV_TEXT, RABBITMQ_ENV)
        append(node.cxn, "/etc/default/rabbitmq-server", "ulimit -n 20000")
        enable(node.cxn, "rabbitmq-server")
        self.local_epmd(node)
        self.start(node)
        user, vhost = node.settings.deploy_user, node.paths.vhost
        self.set_user(node, user, node.secret("broker_password"))
        if not self._listed(node, "list_vhosts", vhost):
            self.ctl(node, "add_vhost", vhost)
        self.ctl(node, "set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        if self._listed(node, "list_users", "guest"):
            self.ctl(node, "delete_user", "guest")

    def local_epmd(self, node: Node) -> None:
        """epmd on 127.0.0.1 only: systemd's socket (Debian's epmd.socket listens everywhere) or, without systemd,
        the epmd the node starts (ERL_EPMD_ADDRESS). A running epmd keeps its sockets, so it is stopped first."""
        service(node.cxn, "rabbitmq-server", "stop", warn=True)
        put(node.cxn, EPMD_SOCKET_TEXT, EPMD_SOCKET_DROPIN, make_dirs=True)
        if exists(node.cxn, "/run/systemd/system"):
            sudo(node.cxn, "systemctl daemon-reload && systemctl stop epmd.service epmd.socket", hide=True, warn=True)
        else:
            sudo(node.cxn, "epmd -kill", hide=True, warn=True)  # nothing to do on a new server: none runs

    def start(self, node: Node) -> None:
        """Start (restart) and wait until the node answers: RabbitMQ can take a while, 1.x retried too.

        Each look that finds it down starts it again; ``start_attempts`` looks, 2 s apart, then it failed.
        """
        service(node.cxn, "rabbitmq-server", "restart", warn=True)
        looks = 0

        def started() -> int:
            nonlocal looks
            looks += 1
            if sudo(node.cxn, "rabbitmqctl -q await_startup", hide=True, warn=True).ok:
                return 0
            service(node.cxn, "rabbitmq-server", "start", warn=True)
            return looks

        wait_for(Wait(f"{node.cxn.host}: rabbitmq-server to start", started, lambda failures: failures == 0,
                      lambda failures: f"{failures} attempt(s)",
                      failed=lambda failures: f"not started after {failures} attempts" if failures >= self.start_attempts else None,
                      deadline=START_DEADLINE), Polling.every(2.0), log.debug)

    def set_user(self, node: Node, user: str, password: str) -> None:
        """Create the user, or reset its password; the password goes on stdin."""
        action = "change_password" if self._listed(node, "list_users", user) else "add_user"
        sudo(node.cxn, join("rabbitmqctl", action, user), in_stream=io.StringIO(password + "\n"), hide=True)

    def ctl(self, node: Node, *args: str) -> None:
        sudo(node.cxn, join("rabbitmqctl", *args), hide=True)

    def _listed(self, node: Node, command: str, name: str) -> bool:
        listing = sudo(node.cxn, join("rabbitmqctl", "-q", command, "--no-table-headers"), hide=True).stdout
        return name in (line.split("\t")[0].strip() for line in listing.splitlines())
