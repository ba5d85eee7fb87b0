"""Replica tasks: reset_slaves (re-copy every replica) and promote_replica (a replica becomes the primary).

The switch to a new primary is shared with recreate_servers: ``Switch`` runs it as named steps, and a failure
says at which step it stopped, what state the servers are in and which command goes on from there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from invoke import Context

from ....aws import Aws
from ....errors import DeployError, UsageError
from ....remote.commands import as_user
from ....report import reporter
from ....secrets import Secrets
from ....waits import Polling
from ..app import APP_ROLES, ServerApp, django, services
from ..context import aws_for, connections_for
from ..deploy.exclusive import environment_locked
from ..deploy.full import use_launch
from ..deploy.operation import execute
from ..environment import Environment
from ..servers import replicas as db
from ..servers.relaunch import image_web_server
from ..stack import Server, Stack
from .app import app_servers, changing
from .base import task
from .operations import CREATE_LAUNCH, begin_operation


def report(message: str) -> None:
    reporter().info(message)


def database_secrets(c: Context, env: Environment) -> Secrets:
    """The store, with what a replica's copy needs read before anything changes (a missing one fails here)."""
    store = Secrets(env.settings, env.deployment, env.environment, aws_for(c))
    store.load(["database_password", "database_replication_password", "tls_ca"])
    return store


@contextmanager
def database(c: Context, env: Environment, server: Server, secrets: Secrets, primary: str = "") -> Iterator[db.Node]:
    """A connected database node for ``server`` (``primary``: the address a replica copies)."""
    cxn = connections_for(c).open(server)
    try:
        yield db.database_node(cxn, env, server, secrets.get, primary, report)
    finally:
        cxn.close()


def recopy_replicas(c: Context, env: Environment, replicas: list[Server], primary: Server, secrets: Secrets) -> None:
    """Each replica replaced by a fresh copy of ``primary``, one after the other (1.x ``reset_slaves``)."""
    for replica in replicas:
        report(f"{replica.hostname or replica.private_ip}: re-copying the primary {primary.private_ip}")
        with database(c, env, replica, secrets, primary.private_ip) as node:
            db.recopy(node)


@task
def reset_slaves(c: Context) -> None:
    """Re-copy every db-replica from the db-primary, one at a time (pg_basebackup; 1.x ``reset_slaves``)."""
    env = changing(c)
    stack = Stack.discover(env, aws_for(c).ec2)
    primary = stack.primary_database
    if primary is None:
        raise UsageError(f"reset_slaves: there is no db-primary in {env.deployment} {env.environment} to copy")
    replicas = [d.server for d in stack.replica_databases]
    if not replicas:
        report(f"reset_slaves: {env.deployment} {env.environment} has no db-replica; nothing to do")
        return
    secrets = database_secrets(c, env)
    with environment_locked(aws_for(c), env.deployment, env.environment, "reset_slaves", report):
        held = hold_health(c, env, stack, True)
        try:
            recopy_replicas(c, env, replicas, primary.server, secrets)
        finally:
            if held:
                hold_health(c, env, stack, False)
    report(f"Re-copied {len(replicas)} replica(s) from {primary.server.private_ip}.")


def hold_health(c: Context, env: Environment, stack: Stack, on: bool) -> bool:
    """While a replica is re-copied it does not answer, and a health check that queries every database would fail:
    the load balancers would take every web server out (and the group replace them). The health check override
    page keeps them in meanwhile; the site serves as usual (a server showing the upgrade page is left alone)."""
    if not stack.by_role("web"):
        return False
    app_servers(c, env, ("web",), lambda app: services.hold_health_check(app, on), "hold health checks" if on else "release health checks", secrets=False,
                stack=stack)
    return True


# --- the switch to a new primary ------------------------------------------------------------------------------
def point_app_servers(c: Context, env: Environment, stack: Stack) -> None:
    """Web and worker servers re-render local settings and pgbouncer for ``stack``'s databases and cache,
    then restart pgbouncer and the site or Celery (which read their settings once)."""

    def repoint(app: ServerApp) -> str:
        django.update_local_settings(app)
        services.supervisor(app, "restart", "pgbouncer")
        if "web" in app.roles:
            services.supervisor(app, "restart", "web")
        if "worker" in app.roles:
            services.supervisor(app, "restart", "celery")
        primary = app.stack.primary_database
        return f"pointed at {primary.server.private_ip if primary else '?'}"

    if any(stack.by_role(role) for role in APP_ROLES):
        app_servers(c, env, APP_ROLES, repoint, "point at the new servers", stack=stack)


def maintenance(c: Context, env: Environment, stack: Stack, on: bool) -> None:
    """The upgrade page on the web servers (health checks keep passing, so no server is replaced meanwhile)."""
    if stack.by_role("web"):
        action = (lambda app: services.begin_upgrade(app, True)) if on else services.end_upgrade
        app_servers(c, env, ("web",), action, "begin_upgrade" if on else "end_upgrade", secrets=False, stack=stack)


def relaunch_web(c: Context, env: Environment, stack: Stack, poll: float, timeout: float) -> str:
    """Future web servers reach the servers of ``stack``: an image of its first web server (already pointed at
    them), a new launch configuration or template version from it, and the group launching that."""
    webs = stack.by_role("web")
    if not webs:
        return "no web server to image; the group's launch is left as it was"
    aws = aws_for(c)
    cxn = connections_for(c).open(webs[0])
    try:
        paths, settings = env.paths, env.settings
        changeset = as_user(cxn, settings.deploy_user, settings.latest_changeset_cmd, cwd=paths.code_root,
                            hide=True).stdout.strip()
        report(f"imaging {webs[0].hostname or webs[0].private_ip} (at {changeset[:12]}) for the web servers to come")
        image = image_web_server(aws, cxn, env, webs[0], changeset, timeout)
    finally:
        cxn.close()
    ctx = begin_operation(c, env, CREATE_LAUNCH, {"ami": image, "changeset": changeset}, poll, timeout)
    execute(CREATE_LAUNCH, ctx)
    use_launch(ctx)
    return f"the group launches {image} from now on"


@dataclass
class Switch:
    """Make ``promotion.target`` the primary: fence, catch up, promote, retag (with ``retire`` too), replicas
    follow, app servers repointed, future web servers too.

    ``before`` runs first inside the maintenance window, ``after_retag`` once the new roles read back (recreate_servers
    stops old workers and deploys new ones there).
    """

    c: Context
    env: Environment
    promotion: db.Promotion
    secrets: Secrets
    polling: Polling
    timeout: float
    retire: list[Server] = field(default_factory=list)
    before: Callable[[], None] = lambda: None
    after_retag: Callable[[Stack], None] = lambda stack: None
    again: str = ""  # the command that goes on after a failure before the retagging
    after_hint: str = ""  # what the ``after_retag`` step does, as a command, for a failure before it
    stack: Stack | None = None
    reached: int = 0  # the index of the step running or last run

    @property
    def aws(self) -> Aws:
        return aws_for(self.c)

    def run(self) -> Stack:
        target = self.promotion.target
        steps: list[tuple[str, Callable[[], None]]] = [
            ("maintenance", lambda: maintenance(self.c, self.env, self._stack(), True)),
            ("before", self.before),
            ("promote", self.promote),
            ("retag", self.retag),
            ("replicas", lambda: recopy_replicas(self.c, self.env, self.promotion.followers, target, self.secrets)),
            ("after", lambda: self.after_retag(self._stack())),
            ("app servers", lambda: point_app_servers(self.c, self.env, self._stack())),
            ("end maintenance", lambda: maintenance(self.c, self.env, self._stack(), False)),
            ("launch", lambda: report(relaunch_web(self.c, self.env, self._stack(), self.polling.delay, self.timeout))),
        ]
        for index, (name, step) in enumerate(steps):
            self.reached = index
            try:
                step()
            except KeyboardInterrupt as exc:
                raise DeployError(self.stopped(name, index, "interrupted")) from exc
            except Exception as exc:  # noqa: BLE001 - told with the state and the way on
                raise DeployError(self.stopped(name, index, str(exc))) from exc
        return self._stack()

    def _stack(self) -> Stack:
        if self.stack is None:
            self.stack = Stack.discover(self.env, self.aws.ec2)
        return self.stack

    RETAGGED = 4  # steps before this index leave the old servers able to take over again

    def promote(self) -> None:
        """Fence every old primary, wait until the target has their last WAL, promote it."""
        target, deadline = self.promotion.target, self.timeout
        positions = []
        for old in self.promotion.fenced:
            report(f"{old.hostname or old.private_ip}: stopping PostgreSQL on the old primary (fenced)")
            with database(self.c, self.env, old, self.secrets) as node:
                positions.append(db.fence(node))
        with database(self.c, self.env, target, self.secrets) as node:
            if db.in_recovery(node):
                if positions:
                    db.wait_caught_up(node, max(positions), deadline, self.polling, report)
                else:
                    report(f"warning: no db-primary to stop: {target.private_ip} is promoted with what it has replayed")
            db.promote(node, deadline, self.polling, report)
        report(f"{target.hostname or target.private_ip} is the primary now (accepts writes)")

    def retag(self) -> None:
        wanted = {server.instance_id: db.retired(server.role) for server in self.promotion.fenced + self.retire}
        wanted[self.promotion.target.instance_id] = db.PRIMARY  # last: a rerun still finds it as a replica before
        servers = {s.instance_id: s for s in [self.promotion.target, *self.promotion.fenced, *self.retire]}
        for instance_id, role in wanted.items():
            db.retag(self.aws, self.env, servers[instance_id], role)
        self.stack = db.wait_roles(self.aws, self.env, wanted, self.timeout, self.polling, report)
        report(f"Retagged: {', '.join(f'{i} {r}' for i, r in wanted.items())}")

    def stopped(self, name: str, index: int, reason: str) -> str:
        """What failed, in which state that leaves the environment, and how to go on."""
        env, deployment = self.env.environment, self.env.deployment
        target = self.promotion.target.instance_id
        if index == 0:
            return f"stopped at step {name}: {reason}\n  state: nothing was changed\n  to go on: run `{self.again}` again"
        page = "the site shows the upgrade page" if index < 7 else "the site serves again"
        if index < 3:  # before the retagging: the same command goes on (each step checks first)
            state = f"the old primary may be stopped and {target} may be promoted; {page}"
            way = f"run `{self.again}` again"
        else:
            rest = []
            if index <= 4:
                rest.append(f"`fabulaws {env} reset_slaves`")
            if index <= 5 and self.after_hint:
                rest.append(self.after_hint)
            if index <= 6:
                rest += [f"`fabulaws {env} update_local_settings`", f"`fabulaws {env} supervisor:restart,pgbouncer`",
                         f"`fabulaws {env} supervisor:restart,web`", f"`fabulaws {env} supervisor:restart,celery`"]
            if index <= 7:
                rest.append(f"`fabulaws {env} end_upgrade`")
            rest.append(f"`fabulaws deploy_serial:{deployment},{env}` (web servers from an image with the new settings)")
            state = f"{target} is the db-primary and the old servers are tagged -OLD; {page}"
            way = "run, in this order: " + ", ".join(rest)
            if index == 3:
                way = (f"if `fabulaws describe:{deployment},{env}` still lists {target} as a db-replica, run "
                       f"`{self.again}` again; otherwise {way}")
            else:
                way = f"do not run `{self.again}` again; {way}"
        return f"stopped at step {name}: {reason}\n  state: {state}\n  to go on: {way}"


@task(types={"index": "whole", "poll": "seconds", "timeout": "seconds"}, help={
    "index": "which db-replica becomes the primary: 0 is the oldest (as describe lists them)",
    "override_servers": "accepted for 1.x compatibility and must be empty: servers are found from their EC2 tags",
    "poll": "seconds between checks while waiting",
    "timeout": "seconds each wait (replay, promotion, tags, image) may take before giving up",
})
def promote_replica(c: Context, index: int = 0, override_servers: str | None = None, poll: float = 2,
                    timeout: float = 900) -> None:
    """Make a db-replica the primary: the old primary stopped and tagged db-primary-OLD, no committed row lost,
    other replicas re-copied, web and worker servers and the group's launch pointed at it (1.x ``promote_replica``)."""
    env = changing(c)
    if override_servers:
        raise UsageError("promote_replica: override_servers is not supported: servers are found from their EC2 tags "
                         "(servers being built are -PENDING, so nothing needs to be left out)")
    stack = Stack.discover(env, aws_for(c).ec2)
    promotion = db.plan_promotion(stack, int(index))
    secrets = database_secrets(c, env)
    secrets.load(env.settings.password_names)
    again = f"fabulaws {env.environment} promote_replica:{index}"
    Switch(c, env, promotion, secrets, Polling(delay=float(poll)), float(timeout), again=again, stack=stack).run()
    report(f"{promotion.target.hostname or promotion.target.private_ip} is the db-primary of "
           f"{env.deployment} {env.environment}.")
