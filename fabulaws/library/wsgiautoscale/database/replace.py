"""Replace an environment's database with a loaded copy (``dbrestore``, ``reload_production_db``).

The copy is loaded into a new database beside the live one while the site shows its maintenance page and
Auto Scaling's processes are suspended; the application's programs stop only for the rename that puts the copy
in place. Before that rename any failure puts everything back (the copy dropped, the programs started, the
maintenance page off, the processes resumed) and the site serves its old data. After it the run finishes what
is left, each step even if one before it failed, and the error says what state the site is in. The
environment's lock (deploy/lease.py) is held throughout, so no deploy runs meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ....aws import Aws
from ....aws.scaling import Processes
from ....errors import DeployError
from ....remote.commands import join
from ....report import Reporter, reporter
from ....secrets import Secrets
from ....waits import Polling, Wait, wait_for
from ..app import APP_ROLES, ServerApp, django, on_app_servers, services
from ..deploy.exclusive import environment_locked
from ..servers.each import Connections
from ..stack import Server, Stack
from . import postgres

if TYPE_CHECKING:
    from fabric import Connection

APP_DEADLINE = 300.0  # seconds the application may take to answer after its programs started
# Django's health check, as the load balancer asks it through nginx (Host: localhost); exit 0 only for a 200
HEALTH_CHECK = ("import sys, urllib.request as u; "
                "u.urlopen(u.Request(sys.argv[1], headers={'Host': 'localhost'}), timeout=10)")
STOP = ("web", "celery", "pgbouncer")  # supervisor groups, in the order they stop; they start in reverse


@dataclass
class Site:
    """One environment's servers and how to reach them."""

    connections: Connections
    stack: Stack
    aws: Aws
    secrets: Secrets
    report: Reporter = field(default_factory=reporter)

    @property
    def primary(self) -> Server:
        primaries = self.stack.by_role("db-primary")
        if not primaries:
            raise DeployError(f"no db-primary server is running in {self.stack.deployment}/{self.stack.environment}")
        return primaries[0]

    @property
    def database(self) -> str:
        return self.stack.paths.database_name

    def on_app(self, roles: tuple[str, ...], action: Callable[[ServerApp], Any], what: str,
               servers: list[Server] | None = None) -> None:
        targets = servers if servers is not None else [
            server for server in self.stack.all_servers() if set(self.stack.roles_of(server)) & set(roles)]
        if targets:
            on_app_servers(self.connections, targets, action, what, self.stack.settings, self.stack, self.secrets,
                           self.aws, self.report)

    def maintenance(self, on: bool) -> None:
        if on:
            self.on_app(("web",), services.begin_upgrade, "begin_upgrade")
        else:
            self.on_app(("web",), services.end_upgrade, "end_upgrade")

    def programs(self, command: str, groups: tuple[str, ...]) -> None:
        for group in groups:
            self.on_app(APP_ROLES, supervising(command, group), f"{command} {group}")

    def answering(self, deadline: float = APP_DEADLINE) -> None:
        """Return once the application on every web server passes its own health check (gunicorn with its
        database, asked directly, not through the upgrade page's override), so the maintenance page comes down
        only when the load balancers' checks will pass (a server failing them is replaced by Auto Scaling)."""
        self.on_app(("web",), lambda app: wait_answering(app, deadline), "application answers")

    def restart(self) -> None:
        """The programs stopped for the swap started again, and answering."""
        self.programs("start", STOP[::-1])
        self.answering()

    def migrate(self) -> None:
        self.on_app(("worker",), django.migrate, "migrate", servers=self.stack.by_role("worker")[:1])


def wait_answering(app: ServerApp, deadline: float) -> None:
    url = f"http://127.0.0.1:{app.stack.server_port}/healthcheck.html"
    check = join("python3", "-c", HEALTH_CHECK, url)

    def look() -> str:
        answer = app.cxn.run(check, hide=True, warn=True, timeout=30)
        return "ok" if answer.ok else " ".join((answer.stdout + answer.stderr).split())[-200:] or "no answer"

    wait_for(Wait(f"{app.host}: the application's health check", look, lambda seen: seen == "ok", deadline=deadline),
             Polling.every(1.0), app.report)


def supervising(command: str, group: str) -> Callable[[ServerApp], None]:
    return lambda app: services.supervisor(app, command, group)


def replace_database(site: Site, load: Callable[[Connection, str], int], what: str,
                     after: Callable[[Connection], object] | None = None) -> str:
    """Load a copy with ``load(primary connection, new database name)`` and put it in place of the live database;
    ``after(primary connection)`` runs last (a fabfile hook). The name the replaced database was kept under."""
    database, owner = site.database, site.stack.settings.database_user
    loading = postgres.loading_name(database)
    out = site.report
    with environment_locked(site.aws, site.stack.deployment, site.stack.environment, what, out.info):
        return _replace(site, load, what, after, database, owner, loading)


def _replace(site: Site, load: Callable[[Connection, str], int], what: str, after: Callable[[Connection], object] | None,
             database: str, owner: str, loading: str) -> str:
    out = site.report
    cxn = site.connections.open(site.primary)
    processes = Processes(site.aws.autoscaling, site.stack.group_name)
    undo: list[tuple[str, Callable[[], object]]] = []
    try:
        try:
            processes.suspend()
            undo.append(("resume Auto Scaling processes", processes.resume))
            undo.append(("end maintenance", lambda: site.maintenance(False)))
            site.maintenance(True)
            undo.append((f"drop {loading}", lambda: postgres.drop(cxn, loading)))
            postgres.create_empty(cxn, loading, owner)
            out.info(f"{what}: loading the copy into {loading} on {site.primary.hostname or site.primary.private_ip}")
            size = load(cxn, loading)
            out.info(f"{what}: {size} bytes loaded; stopping {', '.join(STOP)} for the swap")
            undo.append(("start the programs", site.restart))
            site.programs("stop", STOP)
            kept = postgres.swap(cxn, database)
        except BaseException as exc:
            raise _put_back(what, exc, undo, site) from exc
        out.info(f"{what}: the copy is now {database}; the replaced database is kept as {kept}")
        problems = _finish(site, processes, cxn, after)
        if problems:
            raise DeployError(f"{what}: the copy is in place as {database} (the old data is kept as {kept}), but "
                              + "; ".join(problems))
        return kept
    finally:
        cxn.close()


def _put_back(what: str, exc: BaseException, undo: list[tuple[str, Callable[[], object]]], site: Site) -> DeployError:
    failed = []
    for name, action in reversed(undo):
        try:
            action()
        except Exception as problem:  # noqa: BLE001 - each one is tried, and named in the error
            failed.append(f"{name} failed ({problem})")
    env = f"{site.stack.environment}"
    if failed:
        state = (f"putting back did not finish: {'; '.join(failed)}; the live database was not touched; "
                 f"run `fabulaws {env} end_upgrade` and resume_autoscaling_processes once that is fixed")
    else:
        state = "nothing changed: the site serves its old data, no process is left suspended"
    reason = str(exc) or type(exc).__name__
    return DeployError(f"{what} failed before the copy was put in place ({reason}); {state}")


def _finish(site: Site, processes: Processes, cxn: Connection, after: Callable[[Connection], object] | None) -> list[str]:
    """Every step after the swap, each tried even if one before it failed; what went wrong, with the site's state."""
    problems: list[str] = []
    env = site.stack.environment

    def step(name: str, action: Callable[[], object]) -> bool:
        try:
            action()
            return True
        except Exception as exc:  # noqa: BLE001 - reported with the site's state below
            problems.append(f"{name} failed ({exc})")
            return False

    step("starting pgbouncer", lambda: site.programs("start", ("pgbouncer",)))
    migrated = step("migrate", site.migrate)
    started = step("starting celery and web", lambda: site.programs("start", ("celery", "web")))
    answering = started and step("waiting for the application", site.answering)
    if migrated and answering:
        step("ending maintenance", lambda: site.maintenance(False))
    else:
        problems.append(f"the maintenance page stays up: once the application works (`fabulaws {env} migrate` if "
                        f"that failed), run `fabulaws {env} end_upgrade`")
    step("resuming Auto Scaling processes", processes.resume)
    if after is not None:
        from ....remote.streaming import connection_of

        step("the post_reload_production_db hook", lambda: after(connection_of(cxn)))
    return problems
