"""The cache role's services: Redis, memcached and RabbitMQ, on the private network only.

1.x bound Redis and memcached to every interface, Redis without a password;
here each listens on the private address and localhost, Redis and RabbitMQ
require the ``broker_password``, and RabbitMQ's ``guest`` account is removed.
Passwords travel in files (SFTP) or on stdin, never on a command line.
"""

from __future__ import annotations

import io
import logging

from ...remote.commands import join, sudo
from ...remote.files import append, put
from ...waits import Polling, Wait, wait_for
from ..system import await_listening, enable, service
from . import Component, Node

REDIS_INCLUDE = "/etc/redis/fabulaws.conf"
MEMCACHED_CONF = "/etc/memcached.conf"
RABBITMQ_CONF = "/etc/rabbitmq/rabbitmq.conf"
# seconds RabbitMQ may take to start, however many attempts that is: each ``await_startup`` blocks while the node
# boots (up to its own timeout), so a fixed number of attempts alone does not bound the wait
START_DEADLINE = 1200
log = logging.getLogger(__name__)


class Redis(Component):
    name = "redis"
    packages = ("redis-server",)
    data_dirs = ("/var/lib/redis",)
    services = ("redis-server",)

    def configure(self, node: Node) -> None:
        password = node.secret("broker_password")
        lines = [
            "# Managed by FabulAWS (included last from redis.conf, so it wins).",
            f"bind {node.address} 127.0.0.1",
            "protected-mode yes",
            "loglevel notice",
            "tcp-keepalive 60",
            f"requirepass {redis_quote(password)}",
        ]
        put(node.cxn, "\n".join(lines) + "\n", REDIS_INCLUDE, owner="redis", group="redis", mode="0640")
        append(node.cxn, "/etc/redis/redis.conf", f"include {REDIS_INCLUDE}")
        enable(node.cxn, "redis-server")
        service(node.cxn, "redis-server", "restart")
        await_listening(node.cxn, "Redis", node.address, 6379)


def redis_quote(value: str) -> str:
    """A double-quoted redis.conf argument: spaces, quotes and any byte survive (``\\xHH`` escapes)."""
    escaped = "".join(ch if ch.isprintable() and ch not in '"\\' else "".join(f"\\x{b:02x}" for b in ch.encode())
                      for ch in value)
    return f'"{escaped}"'


class Memcached(Component):
    """memcached with 1.x's CacheMixin sizing: 10000 connections, 5 threads, half the memory."""

    name = "memcached"
    packages = ("memcached",)
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
        text = "# Managed by FabulAWS.\n-d\nlogfile /var/log/memcached.log\n" + "".join(f"{k} {v}\n" for k, v in options.items())
        put(node.cxn, text, MEMCACHED_CONF)
        append(node.cxn, "/etc/default/memcached", "ulimit -n 20000")
        enable(node.cxn, "memcached")
        service(node.cxn, "memcached", "restart")
        await_listening(node.cxn, "memcached", node.address, 11211)


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
        append(node.cxn, "/etc/default/rabbitmq-server", "ulimit -n 20000")
        enable(node.cxn, "rabbitmq-server")
        self.start(node)
        user, vhost = node.settings.deploy_user, node.paths.vhost
        self.set_user(node, user, node.secret("broker_password"))
        if not self._listed(node, "list_vhosts", vhost):
            self.ctl(node, "add_vhost", vhost)
        self.ctl(node, "set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        if self._listed(node, "list_users", "guest"):
            self.ctl(node, "delete_user", "guest")

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
