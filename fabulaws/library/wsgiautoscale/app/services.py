"""The application's services on a server: supervisor programs, pgbouncer, nginx, the upgrade page."""

from __future__ import annotations

import posixpath
import subprocess

from ....certificates import CertificateAuthority
from ....errors import ConfigError, DeployError
from ....remote.commands import join, sudo
from ....remote.files import exists, put, render
from ....ubuntu import users
from ....ubuntu.system import service
from ....ubuntu.tls import CA_CERTIFICATE, install_ca_certificate
from . import ServerApp, template
from .newrelic import agent_for_programs

GROUPS = ("web", "celery", "pgbouncer")


def settings_module(app: ServerApp) -> str:
    return app.settings.settings_managepy or f"{app.settings.project}.local_settings"


def worker_count(app: ServerApp) -> int:
    cpus = int(app.cxn.run("nproc", hide=True).stdout.strip() or 1)
    return cpus * app.settings.gunicorn_worker_multiplier


# --- pgbouncer --------------------------------------------------------------------------------------
def pgbouncer_databases(app: ServerApp) -> list[dict]:
    """One pool per database server; the application sees them all on 127.0.0.1 (primary first)."""
    databases = app.stack.all_databases
    if not databases:
        raise DeployError(f"Primary database missing: no db-primary in {app.deployment} {app.environment}")
    return [{"alias": db.key, "pool": db.name, "host": db.server.private_ip, "name": app.paths.database_name}
            for db in databases]


def pgbouncer_users(user: str, password: str) -> str:
    """pgbouncer's auth_file line: double quotes doubled inside the quoted values."""
    return f'"{user}" "{password.replace(chr(34), chr(34) * 2)}"\n'


def upload_pgbouncer_conf(app: ServerApp) -> bool:
    """pgbouncer's users file and ini (0600, the deploy user's), and the CA certificate it verifies the database
    servers with (root's); whether any changed."""
    settings, paths = app.settings, app.paths
    ca_changed = install_ca_certificate(app.cxn, CertificateAuthority.from_pem(app.secrets.get("tls_ca")))
    directory = posixpath.join(paths.services, "pgbouncer")
    users_file = posixpath.join(directory, "pgbouncer-users.txt")
    changed = put(app.cxn, pgbouncer_users(settings.database_user, app.secrets.get("database_password")), users_file,
                  owner=settings.deploy_user, mode="0600")
    text = render(template("pgbouncer.ini"), {
        "deployment": app.deployment, "environment": app.environment, "databases": pgbouncer_databases(app),
        "pgbouncer_port": settings.pgbouncer_port, "users_file": users_file, "ca_file": CA_CERTIFICATE,
    })
    return put(app.cxn, text, pgbouncer_ini(app), owner=settings.deploy_user, mode="0600") or changed or ca_changed


def pgbouncer_ini(app: ServerApp) -> str:
    return posixpath.join(app.paths.services, "pgbouncer", f"pgbouncer-{app.environment}.ini")


# --- supervisor ---------------------------------------------------------------------------------------
def upload_supervisor_conf(app: ServerApp, run_update: bool = True) -> None:
    """Render the environment's programs into supervisor's conf.d as root's own file (supervisord runs as root and
    would run any ``user=root`` program the file names), and let the deploy user restart them through sudo;
    secrets stay out of it. Older layouts (a link to the deploy user's copy) are replaced."""
    settings, paths = app.settings, app.paths
    text = render(template("supervisor.conf"), {
        "deployment": app.deployment, "environment": app.environment, "roles": app.roles, "paths": paths,
        "deploy_user": settings.deploy_user, "webserver_user": settings.webserver_user,
        "pgbouncer_ini": pgbouncer_ini(app), "wsgi_app": settings.wsgi_app, "server_port": app.stack.server_port,
        "worker_count": worker_count(app), "worker_class": settings.gunicorn_worker_class,
        "timeout": settings.gunicorn_timeout, "settings_module": settings_module(app),
        "celery_application": settings.celery_application, "celery_workers": settings.celery_workers,
        # without run_update (bootstrap) the virtualenv does not exist yet: the next upload wraps the programs
        "newrelic": agent_for_programs(app) if run_update else None,
    })
    ensure_server_log_dir(app)
    # the other environments' programs and any link (1.x, 2.x before 3: into the deploy user's ~/services) go
    remove_others(app, posixpath.dirname(paths.supervisor_conf), f"{settings.project}-*.conf", paths.supervisor_conf)
    put(app.cxn, text, paths.supervisor_conf)
    app.as_deploy_user(join("rm", "-f", posixpath.join(paths.services, "supervisor", f"{app.environment}.conf")))
    users.install_sudoers(app.cxn, users.deploy_user_sudoers(settings.deploy_user, supervisor_targets(app.environment)),
                          users.deploy_sudoers_file(settings.project, app.environment), source="deploy_user")
    if run_update:
        sudo(app.cxn, "supervisorctl update", hide=True)


def supervisor_targets(environment: str) -> list[str]:
    """What the deploy user may start, stop, restart and see: each of the environment's program groups."""
    return [f"{environment}-{group}:*" for group in GROUPS]


def ensure_server_log_dir(app: ServerApp) -> None:
    """The directory supervisord and nginx (root) write logs into: root's, readable by the deploy user's group,
    writable by no one else (a link planted there would have root write wherever it points)."""
    directory = app.paths.server_log_dir
    sudo(app.cxn, f"{join('mkdir', '-p', directory)} && {join('chown', 'root:' + app.settings.deploy_user, directory)}"
                  f" && {join('chmod', '0750', directory)}", hide=True)


def remove_others(app: ServerApp, directory: str, pattern: str, keep: str) -> None:
    """Delete the entries of root's ``directory`` matching ``pattern``, except ``keep`` when it is a real file
    (a symbolic link there is an older layout's: it goes too)."""
    sudo(app.cxn, join("find", directory, "-maxdepth", "1", "-name", pattern, "(", "-type", "l", "-o", "!", "-path",
                       keep, ")", "-delete"), hide=True)


def supervisor(app: ServerApp, command: str, group: str, process: str | None = None) -> None:
    """``supervisorctl <command> <env>-<group>:*`` (or one process), as 1.x's ``supervisor`` task."""
    if group not in GROUPS:
        raise DeployError(f"supervisor group must be one of {', '.join(GROUPS)} (got {group!r})")
    target = f"{app.environment}-{group}:" + (f"{app.environment}-{process}" if process else "*")
    result = sudo(app.cxn, join("supervisorctl", command, target), hide=True, warn=True)
    output = result.stdout + result.stderr
    if not result.ok and "no such group" not in output.lower() and "not running" not in output.lower():
        raise DeployError(f"{app.host}: supervisorctl {command} {target} failed: {output.strip()}")


# --- nginx ----------------------------------------------------------------------------------------------
def html_dir(app: ServerApp) -> str:
    return app.paths.nginx_html


def server_names(domains: list[str]) -> list[str]:
    """nginx server names: a trailing dot dropped; ``.example.com`` matches one more label, as in 1.x."""
    names = []
    for domain in domains:
        domain = domain.rstrip(".")
        if domain.startswith("."):
            names.append('"~^[a-zA-Z0-9-]+' + domain.replace(".", r"\.") + '$"')
        else:
            names.append(domain)
    return names


def basic_auth_line(username: str, password: str) -> str:
    """``user:apr1-hash``, hashed here with the password on openssl's stdin (never on a command line)."""
    hashed = subprocess.run(["openssl", "passwd", "-apr1", "-stdin"], input=password + "\n", capture_output=True,
                            text=True, check=True).stdout.strip()
    return f"{username}:{hashed}\n"


def upload_nginx_conf(app: ServerApp) -> None:
    """The site in sites-available (root's file: nginx's master runs as root), enabled by a link beside it; the
    older layout's link into the deploy user's ~/services is replaced, its copy removed."""
    settings, paths = app.settings, app.paths
    passwd_file = None
    if app.stack.env.basic_auth:
        passwd_file = f"/etc/nginx/{settings.project}.passwd"
        line = basic_auth_line(app.secrets.get("basic_auth_username"), app.secrets.get("basic_auth_password"))
        put(app.cxn, line, passwd_file, owner="root", group="www-data", mode="0640")
    text = render(template("nginx.conf"), {
        "deployment": app.deployment, "environment": app.environment, "paths": paths, "html_dir": html_dir(app),
        "server_port": app.stack.server_port, "server_names": server_names(app.stack.site_domains),
        "passwd_file": passwd_file,
    })
    ensure_server_log_dir(app)
    sudo(app.cxn, join("install", "-d", "-o", "root", "-g", "root", "-m", "0755", paths.state_dir, html_dir(app)), hide=True)
    put(app.cxn, text, paths.nginx_conf)
    enabled = posixpath.join("/etc/nginx/sites-enabled", posixpath.basename(paths.nginx_conf))
    sudo(app.cxn, join("rm", "-f", "/etc/nginx/sites-enabled/default"), hide=True)
    remove_others(app, "/etc/nginx/sites-enabled", f"{settings.project}-*.conf", enabled)
    sudo(app.cxn, join("ln", "-sfn", paths.nginx_conf, enabled), hide=True)
    app.as_deploy_user(join("rm", "-f", posixpath.join(paths.services, "nginx", f"{app.environment}.conf")))
    check = sudo(app.cxn, "nginx -t", hide=True, warn=True)
    if not check.ok:
        raise DeployError(f"{app.host}: nginx rejects the configuration: {check.stderr.strip()}")
    if not app.imaging:  # checked above; the image boots with it
        service(app.cxn, "nginx", "restart")
    install_boot_names(app)


OWN_HOSTS_SERVICE = "fabulaws-own-hosts"


def install_boot_names(app: ServerApp) -> None:
    """A boot service records the server's own names before the site starts (1.x's web rc.local, over IMDSv2);
    run once now. Script and record are root's, in root's directories; the older layout's copies in the deploy
    user's ~/services are removed."""
    paths = app.paths
    context = {"deployment": app.deployment, "environment": app.environment, "own_hosts": join(paths.own_hosts),
               "own_hosts_script": join(paths.own_hosts_script)}
    sudo(app.cxn, join("install", "-d", "-o", "root", "-g", "root", "-m", "0755", paths.state_dir), hide=True)
    put(app.cxn, render(template("own-hosts.sh"), context), paths.own_hosts_script, mode="0755")
    put(app.cxn, render(template("own-hosts.init"), context), f"/etc/init.d/{OWN_HOSTS_SERVICE}", mode="0755")
    sudo(app.cxn, join("update-rc.d", OWN_HOSTS_SERVICE, "defaults"), hide=True)
    app.as_deploy_user(join("rm", "-f", *[posixpath.join(paths.services, name) for name in ("own-hosts.sh", "own-hosts")]))
    recorded = sudo(app.cxn, join(paths.own_hosts_script), hide=True, warn=True)
    if not recorded.ok:
        app.report(f"{app.host}: own-hosts: instance metadata unavailable ({recorded.stderr.strip()})")


# --- the upgrade page -------------------------------------------------------------------------------------
def begin_upgrade(app: ServerApp, stay_healthy: bool = True) -> None:
    """Serve the upgrade message (503) for everything; keep passing the health check when ``stay_healthy``."""
    pages = static_html(app)
    names = ["upgrade_message"] + (["healthcheck_override"] if stay_healthy else [])
    for name in names:
        put(app.cxn, pages[name].read_bytes(), posixpath.join(html_dir(app), pages[name].name), make_dirs=True)


def end_upgrade(app: ServerApp) -> None:
    for page in static_html(app).values():
        sudo(app.cxn, join("rm", "-f", posixpath.join(html_dir(app), page.name)), hide=True)


def hold_health_check(app: ServerApp, on: bool) -> str:
    """Keep passing the load balancers' health check whatever the application answers (the override page), or
    stop doing so; a server showing the upgrade page is left as it is (end_upgrade removes both)."""
    pages = static_html(app)
    if exists(app.cxn, posixpath.join(html_dir(app), pages["upgrade_message"].name)):
        return "upgrade page shown: left as it is"
    target = posixpath.join(html_dir(app), pages["healthcheck_override"].name)
    if on:
        put(app.cxn, pages["healthcheck_override"].read_bytes(), target, make_dirs=True)
    else:
        sudo(app.cxn, join("rm", "-f", target), hide=True)
    return "health check held" if on else "health check released"


def static_html(app: ServerApp) -> dict:
    pages = app.settings.static_html or {}
    missing = [key for key in ("upgrade_message", "healthcheck_override") if key not in pages]
    if missing:
        raise ConfigError(f"static_html: {', '.join(missing)} missing (files for the upgrade page)")
    return {key: app.settings.source.parent / path for key, path in pages.items()}
