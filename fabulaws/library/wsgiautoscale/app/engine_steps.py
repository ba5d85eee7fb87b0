"""The deploy engine's server steps, done by the application tasks over SSH (see deploy/steps.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import paramiko

from ....aws import tags as tagging
from ....errors import DeployError
from ....remote.commands import join, sudo
from ....remote.connect import wait_for_ssh
from ....remote.hostkeys import KnownHosts
from ....remote.streaming import StreamedConnection
from ....report import LOG_DIR
from ....secrets import Secrets
from ..deploy.bake import BakePlan, image_tags, plan_bake, resolve_changeset
from ..deploy.resources import RUN_TAG
from ..servers import roles
from ..servers.creation import log_path, server_logger
from ..servers.digest import provision_digest
from ..servers.each import Connections
from ..servers.provision import NewServer, ServerSpec
from ..stack import Server, Stack
from . import ServerApp, newrelic, on_app_servers
from .code import current_changeset
from .release import (
    bootstrap,
    deploy_web_server,
    deploy_worker_server,
    refresh_web_server,
    requirements_hash,
    restore_worker_server,
)
from .services import begin_upgrade, end_upgrade

if TYPE_CHECKING:
    from fabric import Connection

    from fabulaws.library.wsgiautoscale.deploy.run import DeployContext


class ApplicationSteps:
    """Image baking, the upgrade page and the worker deployment of deploy_full and deploy_serial."""

    declares_no_return = True  # deploy_worker declares the point of no return right before the migrations

    def __init__(self, connections: Connections | None, before_app: Callable[[], None] | None = None,
                 post_bootstrap: Callable[[Connection], Any] | None = None) -> None:
        """``before_app`` runs once before the first application step (create_environment: wait for the
        database, cache and worker servers being created meanwhile, then bootstrap the workers);
        ``post_bootstrap``: the fabfile's hook, run after the image server's bootstrap."""
        self.connections = connections
        self.post_bootstrap = post_bootstrap
        self._secrets: Secrets | None = None
        self._before_app = before_app

    def _connections(self) -> Connections:
        if self.connections is None:
            raise DeployError("the application steps need connections to the servers (none were given)")
        return self.connections

    def before_app(self) -> None:
        if self._before_app is not None:
            waiting, self._before_app = self._before_app, None
            waiting()

    def secrets(self, ctx: DeployContext) -> Secrets:
        if self._secrets is None:
            self._secrets = Secrets(ctx.settings, ctx.deployment, ctx.environment, ctx.aws)
        return self._secrets

    def _on_servers(self, ctx: DeployContext, servers: list[Server], action: Callable[..., object], what: str, stack: Stack | None = None) -> None:
        if servers:
            secrets = self.secrets(ctx)
            secrets.load(ctx.settings.password_names)
            on_app_servers(self._connections(), servers, action, what, ctx.settings, stack or ctx.stack(), secrets, ctx.aws, ctx.report)

    # --- ServerSteps ---------------------------------------------------------------------------------
    def bake_plan(self, ctx: DeployContext) -> tuple[BakePlan, str, dict]:
        """(where the image comes from, the provisioning digest, its inputs): deploy/bake.py's decision."""
        settings = ctx.settings
        digest, inputs = provision_digest(settings, ctx.environment, "web", self.post_bootstrap)
        mode = ctx.journal.params.get("bake") or "auto"
        plan = plan_bake(ctx.aws, ctx.group(), ctx.deployment, ctx.environment, digest, inputs,
                         lambda: resolve_changeset(settings.repo, ctx.env.branch, ctx.journal.params.get("changeset"),
                                                   settings.vcs_cmd), mode)
        return plan, digest, inputs

    def bake_image(self, ctx: DeployContext) -> tuple[str, str]:
        """The web image: reused when one of the same digest and changeset exists, else baked (bake_from)."""
        plan, digest, inputs = self.bake_plan(ctx)
        ctx.report(f"web image: {plan}")
        if plan.kind == "reuse":
            return str(plan.image), str(plan.changeset)  # not the run's product: a rollback leaves it
        return self.bake_from(ctx, plan, digest, inputs)

    def bake_from(self, ctx: DeployContext, plan: BakePlan, digest: str, inputs: dict) -> tuple[str, str]:
        """A temporary web server (role ``web-IMAGE``, invisible to discovery) at the branch head, imaged,
        then terminated, also on failure. Recorded in the journal before they exist: the run tag its instance and
        volumes carry, its key pairs' name prefix, the image's name; so ``recover`` deletes them after a kill."""
        settings = ctx.settings
        secrets = self.secrets(ctx)
        secrets.load(sorted(set(settings.password_names) | set(roles.secrets_needed("web", settings.instance_settings.fs_encrypt))))
        spec = ServerSpec(ctx.deployment, ctx.environment, "web", settings.avail_zones[0], pending_label="IMAGE")
        tracked: list[tuple[str, str]] = []

        def track(kind: str, identifier: str) -> None:
            tracked.append((kind, identifier))
            ctx.journal.track(kind, identifier)

        key_prefix = f"{settings.instance_settings.key_prefix}{ctx.journal.id}-"
        track("run-tag", ctx.journal.id)
        track("key-prefix", key_prefix)

        path = log_path(LOG_DIR, spec, 0)
        log, handler = server_logger(path.stem, path)
        incremental = plan.kind == "incremental"
        source = f"from image {plan.image}" if incremental else "from the base image"
        ctx.report(f"baking the web image {source} on a temporary server; its log: {path}")
        server = NewServer(spec, settings, ctx.aws, secrets.get, self._connections().user, self._connections().config, KnownHosts(), log,
                           report=lambda status: ctx.report(f"image server: {status}"), assign=False, track=track,
                           run_tags={RUN_TAG: ctx.journal.id}, key_prefix=key_prefix,
                           image=plan.image if incremental else None)
        wanted = ctx.journal.params.get("changeset")
        try:
            instance = server.create()
            self.before_app()
            ctx.report("image server: " + ("update code and settings" if incremental else "bootstrap and deploy_web"))
            with open(path, "a", buffering=1, encoding="utf-8", errors="replace") as stream:  # its remote output too
                cxn = StreamedConnection(server.cxn, stream)
                app = ServerApp(cxn, settings, ctx.stack(), ["web"], secrets, ctx.aws, ctx.report, imaging=True)
                if incremental:
                    changeset = refresh_web_server(app, wanted, plan.requirements)
                else:
                    bootstrap(app, self.post_bootstrap)
                    changeset = deploy_web_server(app, wanted)
                requirements = requirements_hash(app)
            stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
            ctx.report(f"creating the image of {instance.instance_id} at {changeset[:12]}")
            name = f"{ctx.deployment}_{ctx.environment}_web_{stamp}_{changeset}"
            ctx.journal.track("image", name, temporary=False)  # the run's product: only a rollback deletes it
            image = instance.create_image(name)
            tagging.add(ctx.aws.ec2, [image], image_tags(digest, inputs, changeset, plan.kind, requirements))
            return image, changeset
        finally:
            server.discard()  # terminated: its data volume goes with it (DeleteOnTermination)
            for kind, identifier in tracked:
                ctx.journal.untrack(kind, identifier)
            log.removeHandler(handler)
            handler.close()

    def servers_ready(self, ctx: DeployContext, instance_ids: list[str]) -> None:
        """Return once every new server answers SSH with its data volume mounted (1.x slept 120 s for that);
        load balancer health is waited for later. The one wait for new servers' SSH (remote.connect.wait_for_ssh)."""
        services_dir = ctx.stack().paths.services
        known = KnownHosts()
        servers: dict[str, Server] = {}

        def addresses() -> dict[str, str]:
            servers.update({s.instance_id: s for s in ctx.stack().all_servers() if s.instance_id in instance_ids})
            return {instance_id: s.hostname or s.private_ip for instance_id, s in servers.items()}

        def mounted(instance_id: str, host: str) -> str | None:
            try:
                cxn = self._connections().open(servers[instance_id], known)
                try:
                    ready = sudo(cxn, join("test", "-d", services_dir), hide=True, warn=True).ok
                finally:
                    cxn.close()
            except paramiko.BadHostKeyException:
                raise
            except Exception as exc:  # noqa: BLE001 - not yet: sshd, the operator's user or sudo are still starting
                return " ".join(f"{type(exc).__name__}: {exc}".split())
            return None if ready else "its data volume is not mounted yet"

        wait_for_ssh(ctx.aws.ec2, instance_ids, addresses, mounted, known, ctx.wait_deadline(), ctx.polling,
                     ctx.report, what=f"SSH on the {len(instance_ids)} new server(s)")

    def begin_upgrade(self, ctx: DeployContext, servers: list[Server]) -> None:
        self._on_servers(ctx, servers, begin_upgrade, "begin_upgrade")

    def end_upgrade(self, ctx: DeployContext, servers: list[Server]) -> None:
        self._on_servers(ctx, servers, end_upgrade, "end_upgrade")

    def deploy_worker(self, ctx: DeployContext, changeset: str) -> None:
        """Every worker at ``changeset``; the first one migrates and collects static files."""
        self.before_app()
        stack = ctx.stack()
        workers = stack.by_role("worker")
        if not workers:
            ctx.warn(f"no worker server in {ctx.deployment} {ctx.environment}: migrations and collectstatic did NOT "
                     f"run for {changeset}; create a worker, then run `fabulaws {ctx.environment} deploy_worker`")
        self.record_changesets(ctx, workers, stack)
        self._on_servers(ctx, workers[:1], lambda app: deploy_worker_server(app, changeset, before_migrate=ctx.point_of_no_return),
                         "deploy_worker", stack)
        self._on_servers(ctx, workers[1:], lambda app: deploy_worker_server(app, changeset, run_migrations=False),
                         "deploy_worker", stack)
        flag_optional(ctx, changeset, self.secrets(ctx))


    def record_changesets(self, ctx: DeployContext, workers: list, stack: Stack) -> None:
        """Each worker's changeset before this run changes it, in the journal (a rollback restores them)."""
        if not workers:
            return
        by_host = {address: s.instance_id for s in workers for address in (s.hostname, s.private_ip) if address}
        found: dict[str, str] = {}

        def read(app: ServerApp) -> str:
            try:
                changeset = current_changeset(app)
            except Exception:  # noqa: BLE001 - no code yet (a new worker): nothing to restore there
                return "no code yet"
            found[by_host.get(app.host, app.host)] = changeset
            return changeset

        self._on_servers(ctx, workers, read, "current_changeset", stack)
        ctx.record_workers(found)

    def restore_workers(self, ctx: DeployContext, workers: dict[str, str]) -> None:
        """Each worker back at its changeset from before the run (before the point of no return only)."""
        stack = ctx.stack()
        servers = [s for s in stack.by_role("worker") if s.instance_id in workers]
        by_host = {address: s.instance_id for s in servers for address in (s.hostname, s.private_ip) if address}
        self._on_servers(ctx, servers, lambda app: restore_worker_server(app, workers[by_host[app.host]]), "restore_worker",
                         stack)


def flag_optional(ctx: DeployContext, changeset: str, secrets: Secrets) -> None:
    """The New Relic markers, when configured; a failure is a warning: the database is migrated by now, and an
    optional notice must not roll a deploy back onto old code."""
    try:
        newrelic.flag_if_configured(ctx.settings, ctx.deployment, ctx.environment, changeset, secrets, ctx.report)
    except DeployError as exc:
        ctx.warn(f"{exc}; the deploy goes on (run `fabulaws {ctx.environment} flag_deployment` later)")
