"""What each role is made of, in 1.x's setup order."""

from __future__ import annotations

from ....ubuntu.packages import Component
from ....ubuntu.packages.basics import AppServer, Fail2ban, Nginx, Python
from ....ubuntu.packages.cache import Memcached, RabbitMQ, Redis
from ....ubuntu.packages.postgres import Postgres

ROLE_COMPONENTS: dict[str, tuple[Component, ...]] = {
    "cache": (Fail2ban(), Redis(), Memcached(), RabbitMQ()),
    "db-primary": (Fail2ban(), Postgres(primary=True)),
    "db-replica": (Fail2ban(), Postgres(primary=False)),
    "worker": (Fail2ban(), Python(), AppServer()),
    "web": (Fail2ban(), Python(), AppServer(), Nginx()),
    "combo": (Fail2ban(), Python(), AppServer(), Nginx(), Postgres(primary=True)),
}
# The secrets setup needs, by role (checked before any instance is launched).
# The application's local settings carry the cache services' credentials (app/django.py).
CACHE_CLIENT_SECRETS = ("redis_password", "memcached_password")
# The database roles sign their certificates with the CA (tls_ca); web and worker servers trust its certificate.
ROLE_SECRETS: dict[str, tuple[str, ...]] = {
    "cache": ("broker_password", "redis_password", "memcached_password", "tls_ca"),  # tls_ca: redis_tls
    "db-primary": ("database_password", "database_replication_password", "tls_ca"),
    "db-replica": ("database_password", "database_replication_password", "tls_ca"),
    "combo": ("database_password", "database_replication_password", "tls_ca", *CACHE_CLIENT_SECRETS),
    "web": ("tls_ca", *CACHE_CLIENT_SECRETS),
    "worker": ("tls_ca", *CACHE_CLIENT_SECRETS),
}


def components(role: str) -> tuple[Component, ...]:
    return ROLE_COMPONENTS[role]


def secrets_needed(role: str, fs_encrypt: bool | str) -> list[str]:
    """The secrets creating a ``role`` server needs; ``fs_encrypt`` is instance_settings' (only luks needs one)."""
    return list(ROLE_SECRETS.get(role, ())) + (["luks_passphrase"] if fs_encrypt == "luks" else [])


def data_dirs(role: str, home: str) -> list[str]:
    """Directories moved onto the data volume: /tmp, the deploy user's home, then each service's data."""
    dirs = ["/tmp", home.rstrip("/") or "/"]
    for component in components(role):
        dirs += [d for d in component.data_dirs if d not in dirs]
    return dirs
