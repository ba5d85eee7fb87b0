"""Django on a server: the rendered local settings, manage.py, migrate, collectstatic, compress."""

from __future__ import annotations

import posixpath
from urllib.parse import quote

from ....errors import ConfigError, DeployError
from ....remote.commands import join
from ....remote.files import put, render
from ....report import warn
from ....ubuntu.tls import CA_CERTIFICATE
from . import ServerApp, cdn
from .code import current_changeset
from .services import pgbouncer_databases, upload_pgbouncer_conf


def cache_address(app: ServerApp) -> str:
    """The cache server's private address (RabbitMQ, Redis and memcached live there)."""
    cache = app.stack.cache_server
    if cache is None:
        raise DeployError(f"Cache server missing: no cache server in {app.deployment} {app.environment}")
    return cache.private_ip


def broker_url(app: ServerApp) -> str:
    """RabbitMQ on the cache server, with the app user and the environment's vhost (password URL-quoted)."""
    password = quote(app.secrets.get("broker_password"), safe="")
    return f"amqp://{quote(app.settings.deploy_user, safe='')}:{password}@{cache_address(app)}:5672/{quote(app.paths.vhost, safe='')}"


def redis_url(app: ServerApp) -> str:
    """Redis on the cache server as its ACL user (``deploy_user``/``redis_password``, URL-quoted), database 0;
    with ``redis_tls``, over TLS verified against the environment's CA (redis-py reads both query arguments)."""
    user, password = quote(app.settings.deploy_user, safe=""), quote(app.secrets.get("redis_password"), safe="")
    if app.settings.redis_tls:
        return (f"rediss://{user}:{password}@{cache_address(app)}:6379/0"
                f"?ssl_cert_reqs=required&ssl_ca_certs={quote(CA_CERTIFICATE, safe='/')}")
    return f"redis://{user}:{password}@{cache_address(app)}:6379/0"


def memcached(app: ServerApp) -> dict[str, object]:
    """What a memcached client needs: memcached requires SASL, which only its binary protocol has (Django's
    PyLibMCCache with ``binary``, ``username`` and ``password`` in OPTIONS; or django-bmemcached)."""
    return {"location": f"{cache_address(app)}:11211", "username": app.settings.deploy_user,
            "password": app.secrets.get("memcached_password"), "binary": True}


def allowed_hosts(app: ServerApp) -> list[str]:
    """The site's domains plus this server's own address (the load balancer's health checks use it)."""
    own = [app.cxn.host] if app.cxn.host not in app.stack.site_domains else []
    return [*app.stack.site_domains, *own, "localhost", "127.0.0.1"]


def update_local_settings(app: ServerApp) -> None:
    """Render ``localsettings_template`` (0600, deploy user: it holds secrets) and pgbouncer's files with it."""
    settings = app.settings
    if settings.localsettings_template is None:
        raise ConfigError("localsettings_template: not set (the template of the settings file each server gets)")
    upload_pgbouncer_conf(app)
    source = settings.source.parent / settings.localsettings_template
    names = list(settings.password_names)
    context = {
        "deployment": app.deployment, "environment": app.environment, "current_role": app.roles[0],
        "current_changeset": current_changeset(app), "allowed_hosts": allowed_hosts(app), "paths": app.paths,
        "databases": pgbouncer_databases(app), "database_user": settings.database_user,
        "pgbouncer_port": settings.pgbouncer_port, "broker_url": broker_url(app), "redis_url": redis_url(app),
        "memcached": memcached(app),
        "secrets": {name: app.secrets.get(name) for name in names}, "settings": settings,
    }
    put(app.cxn, render(source.read_text(), context), app.paths.local_settings_py, owner=settings.deploy_user,
        group=settings.webserver_user, mode="0640")


def managepy(app: ServerApp, command: str, warn: bool = False):
    """``manage.py <command>`` in code_root as the webserver user, with the environment's settings."""
    python = posixpath.join(app.paths.virtualenv_root, "bin", "python")
    line = f"{join(python, 'manage.py')} {command}"
    if app.settings.settings_managepy:
        line += " " + join(f"--settings={app.settings.settings_managepy}")
    result = app.as_webserver_user(line, cwd=app.paths.code_root, warn=True)
    if not result.ok and not warn:
        raise DeployError(f"{app.host}: manage.py {command} failed:\n{(result.stderr or result.stdout).strip()[-2000:]}")
    return result


def migrate(app: ServerApp) -> None:
    managepy(app, "migrate --noinput")


def collectstatic(app: ServerApp) -> None:
    managepy(app, "collectstatic --noinput")
    cdn.invalidate_if_configured(app)  # a failure there is a warning (app/cdn.py)


NOT_INSTALLED = "Unknown command: 'compress'"  # Django's answer when django-compressor is not in INSTALLED_APPS


def compress(app: ServerApp) -> bool:
    """``manage.py compress`` where 1.x ran it, warn-only as there; a project without django-compressor (Django
    answers NOT_INSTALLED) is skipped quietly. Returns whether it compressed."""
    result = managepy(app, "compress", warn=True)
    if result.ok:
        return True
    output = f"{result.stdout}\n{result.stderr}"
    if NOT_INSTALLED not in output:
        warn(app.report, f"{app.host}: manage.py compress failed (the deploy goes on, as 1.x did): "
                   f"{output.strip().splitlines()[-1][-300:] if output.strip() else f'exit {result.exited}'}")
    return False
