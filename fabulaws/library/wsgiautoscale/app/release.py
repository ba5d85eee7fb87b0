"""A release of the application on one server: what the bootstrap, update_services, deploy_web and deploy_worker
tasks do on each of their servers, in 1.x's order."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any

from fabric import Connection

from ....remote.commands import join
from ....remote.streaming import connection_of
from . import ServerApp
from .code import (
    clone_repo,
    create_virtualenv,
    remove_tree,
    setup_dirs,
    update_requirements,
    update_source,
)
from .django import collectstatic, compress, migrate, update_local_settings
from .newrelic import upload_newrelic_conf
from .services import (
    supervisor,
    upload_nginx_conf,
    upload_pgbouncer_conf,
    upload_supervisor_conf,
)


def update_services(app: ServerApp, run_update: bool = True) -> None:
    setup_dirs(app)
    upload_newrelic_conf(app)
    upload_supervisor_conf(app, run_update)
    upload_pgbouncer_conf(app)
    if "web" in app.roles:
        upload_nginx_conf(app)


def bootstrap(app: ServerApp, post_bootstrap: Callable[[Connection], Any] | None = None, purge: bool = False) -> None:
    """A server's first deployment: code, services and virtualenv, then ``post_bootstrap`` (the fabfile's hook of
    that name, if it has one) with a Connection to the server. ``purge``: delete the environment's directory first
    (1.x ``bootstrap:purge=True``); the steps below make it again, owned by the deploy user."""
    if purge:
        app.report(f"{app.host}: purge: deleting {app.paths.root}")
        remove_tree(app, app.paths.root)  # never through a link the deploy user put in the way
    clone_repo(app)
    update_services(app, run_update=False)  # supervisor starts the programs once their virtualenv exists
    create_virtualenv(app)
    update_requirements(app)
    if post_bootstrap is not None:
        app.report(f"{app.host}: post_bootstrap")
        post_bootstrap(connection_of(app.cxn))  # a fabfile task: invoke wants the Connection itself


def deploy_code(app: ServerApp, changeset: str | None, image_requirements: str | None = None) -> str:
    """Code at ``changeset``, requirements, local settings, supervisor configuration. ``image_requirements``: the
    requirements file's hash on the image the server was launched from (pip is skipped while it is the same)."""
    changeset = update_source(app, changeset)
    if image_requirements is not None and requirements_hash(app) == image_requirements:
        app.report(f"{app.host}: requirements unchanged since the image; pip skipped")
    else:
        update_requirements(app)
    update_local_settings(app)
    upload_supervisor_conf(app)
    return changeset


def deploy_web_server(app: ServerApp, changeset: str | None = None, image_requirements: str | None = None) -> str:
    """Stop the site, update code, requirements, settings and static files, start it again (pgbouncer too,
    except on a server being imaged)."""
    supervisor(app, "stop", "web")
    if not app.imaging:
        supervisor(app, "stop", "pgbouncer")
    changeset = deploy_code(app, changeset, image_requirements)
    if app.settings.static_hosting == "local":
        collectstatic(app)
        compress(app)
    if not app.imaging:
        supervisor(app, "start", "pgbouncer")
    supervisor(app, "start", "web")
    return changeset


def requirements_hash(app: ServerApp) -> str | None:
    """sha256 of the checked-out requirements file (None with ``requirements_sdists``: the archives matter too)."""
    if app.settings.requirements_sdists:
        return None
    path = posixpath.join(app.paths.code_root, app.settings.requirements_file)
    result = app.as_deploy_user(join("sha256sum", "--", path), warn=True)
    digest = result.stdout.split()[0] if result.ok and result.stdout.split() else ""
    return digest if len(digest) == 64 else None


def refresh_web_server(app: ServerApp, changeset: str | None, image_requirements: str | None) -> str:
    """On a server launched from an earlier web image of the same provisioning digest: the services'
    configuration as the config says now, then deploy_web_server (no bootstrap: the virtualenv is in the image)."""
    update_services(app, run_update=False)
    return deploy_web_server(app, changeset, image_requirements)


def deploy_worker_server(app: ServerApp, changeset: str | None = None, run_migrations: bool = True,
                  before_migrate: Callable[[], None] | None = None) -> str:
    """Stop Celery, update everything, migrate and collect static files (on one worker only), start Celery.

    ``before_migrate`` runs right before the migrations (the deploy engine declares its point of no return there).
    """
    supervisor(app, "stop", "celery")
    supervisor(app, "stop", "pgbouncer")
    changeset = deploy_code(app, changeset)
    supervisor(app, "start", "pgbouncer")
    if run_migrations:
        if before_migrate is not None:
            before_migrate()
        migrate(app)
        collectstatic(app)
        compress(app)
    supervisor(app, "start", "celery")
    return changeset


def restore_worker_server(app: ServerApp, changeset: str) -> str:
    """Undo of a deploy_worker stopped before its migrations: ``changeset`` again with its requirements, local
    settings and supervisor configuration; pgbouncer and Celery running again."""
    supervisor(app, "stop", "celery")
    supervisor(app, "stop", "pgbouncer")
    changeset = deploy_code(app, changeset)
    supervisor(app, "start", "pgbouncer")
    supervisor(app, "start", "celery")
    return changeset
