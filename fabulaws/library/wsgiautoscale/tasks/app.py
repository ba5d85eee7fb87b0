"""Application tasks on the selected environment's web and worker servers.

``fabulaws <env> <task>``: each runs on every server of its roles in parallel
(``-H``, or 1.x's per-task ``roles=``/``hosts=``, narrows the servers), and names every server where it failed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from invoke import Context

from ....errors import ConfigError
from ....prompts import confirm_production
from ....secrets import Secrets
from ....ubuntu.system import service
from ..announce import announce_change
from ..app import (
    APP_ROLES,
    ServerApp,
    code,
    django,
    newrelic,
    on_app_servers,
    release,
    services,
)
from ..context import (
    aws_for,
    connections_for,
    named_servers,
    narrowed_roles,
    project_hook,
    selected_environment,
    stack_of,
)
from ..environment import Environment
from ..stack import Server, Stack
from .base import flag, task


def changing(c: Context) -> Environment:
    """The selected environment, announced (for the tasks that change it)."""
    env = selected_environment(c)
    announce_change(c, env)
    return env


def with_workers(stack: Stack, workers: list[Server]) -> Stack:
    """``stack`` with only ``workers`` as its workers (tasks that run on one worker, or on the rest)."""
    return dataclasses.replace(stack, servers={**stack.servers, "worker": workers})


def app_servers(c: Context, env: Environment, roles: tuple[str, ...], action: Callable[[ServerApp], Any], what: str,
                secrets: bool = True, stack: Stack | None = None) -> list[str]:
    """Run ``action`` on every server of ``roles`` in ``env`` (narrowed by the task's roles=/hosts=); secrets are read
    up front."""
    settings = env.settings
    roles = narrowed_roles(c, settings, roles)
    stack = stack or stack_of(c, env)
    aws = aws_for(c)
    store = Secrets(settings, env.deployment, env.environment, aws)
    if secrets:
        store.load(settings.password_names)  # before any thread starts: a missing one fails here, nothing changed
    targets = named_servers(c, [server for server in stack.all_servers() if set(stack.roles_of(server)) & set(roles)])
    return on_app_servers(connections_for(c), targets, action, what, settings, stack, store, aws)


@task
def setup_dirs(c: Context) -> None:
    """Create the log, services, media and static directories (1.x ``setup_dirs``)."""
    app_servers(c, changing(c), APP_ROLES, code.setup_dirs, "setup_dirs", secrets=False)


@task
def clone_repo(c: Context) -> None:
    """Clone ``repo`` and check out the environment's branch (1.x ``clone_repo``)."""
    app_servers(c, changing(c), APP_ROLES, code.clone_repo, "clone_repo", secrets=False)


@task(help={
    "changeset": "git revision to deploy (default: the head of the environment's branch)",
})
def update_source(c: Context, changeset: str | None = None) -> None:
    """Fetch and reset the code to ``changeset`` or the branch head (1.x ``update_source``)."""
    app_servers(c, changing(c), APP_ROLES, lambda app: code.update_source(app, changeset), "update_source", secrets=False)


@task
def current_changeset(c: Context) -> None:
    """Print the changeset each server runs (1.x ``current_changeset``)."""
    app_servers(c, selected_environment(c), APP_ROLES, code.current_changeset, "current_changeset", secrets=False)


@task
def create_virtualenv(c: Context) -> None:
    """Recreate the virtualenv with the configured Python (1.x ``create_virtualenv``)."""
    app_servers(c, changing(c), APP_ROLES, code.create_virtualenv, "create_virtualenv", secrets=False)


@task
def update_requirements(c: Context) -> None:
    """pip install the requirements file into the virtualenv (1.x ``update_requirements``)."""
    app_servers(c, changing(c), APP_ROLES, code.update_requirements, "update_requirements", secrets=False)


@task
def update_local_settings(c: Context) -> None:
    """Render the local settings and pgbouncer files (1.x ``update_local_settings``)."""
    app_servers(c, changing(c), APP_ROLES, django.update_local_settings, "update_local_settings")


@task(types={"run_update": "flag"}, help={
    "run_update": "yes: run supervisorctl update so the programs change now; no: only upload",
})
def upload_supervisor_conf(c: Context, run_update: str = "yes") -> None:
    """Render the supervisor programs and reload supervisor (1.x ``upload_supervisor_conf``)."""
    app_servers(c, changing(c), APP_ROLES, lambda app: services.upload_supervisor_conf(app, flag(run_update)),
                "upload_supervisor_conf", secrets=False)


@task
def upload_pgbouncer_conf(c: Context) -> None:
    """Render pgbouncer's configuration and users file (1.x ``upload_pgbouncer_conf``)."""
    app_servers(c, changing(c), APP_ROLES, services.upload_pgbouncer_conf, "upload_pgbouncer_conf")


@task
def upload_nginx_conf(c: Context) -> None:
    """Render the site's nginx configuration and restart nginx on web servers (1.x ``upload_nginx_conf``)."""
    app_servers(c, changing(c), ("web",), services.upload_nginx_conf, "upload_nginx_conf")


@task
def update_services(c: Context) -> None:
    """setup_dirs, supervisor, pgbouncer and (web) nginx configuration (1.x ``update_services``)."""
    app_servers(c, changing(c), APP_ROLES, release.update_services, "update_services")


@task(types={"purge": "flag"}, help={
    "purge": "yes: delete the environment's directory (code, virtualenv, logs, static and media files) first",
    "answer": "y confirms a purge on production without asking; n refuses (default: ask on the terminal)",
})
def bootstrap(c: Context, purge: str = "no", answer: str | None = None) -> None:
    """First deployment of a server: clone, services, virtualenv, requirements (1.x ``bootstrap``); with purge=yes
    the environment's directory is deleted first."""
    env = selected_environment(c)
    if flag(purge) and env.is_production:
        confirm_production("bootstrap:purge=yes", env.environment, answer,
                           warning=f"It deletes {env.paths.root} on every server it runs on.")
    announce_change(c, env)
    post_bootstrap = project_hook(c, "post_bootstrap")
    app_servers(c, env, APP_ROLES, lambda app: release.bootstrap(app, post_bootstrap, purge=flag(purge)), "bootstrap")


@task(help={
    "command": "manage.py command line to run on every worker, e.g. 'showmigrations' (1.x: cmd=)",
})
def managepy(c: Context, command: str) -> None:
    """Run ``manage.py <command>`` on every worker (1.x ``managepy``; 1.x's ``cmd=`` is accepted)."""
    app_servers(c, changing(c), ("worker",), lambda app: django.managepy(app, command).stdout.strip(), "managepy")


@task
def migrate(c: Context) -> None:
    """``manage.py migrate`` on the first worker (1.x ``migrate``)."""
    env = changing(c)
    stack = stack_of(c, env)
    app_servers(c, env, ("worker",), django.migrate, "migrate", stack=with_workers(stack, stack.by_role("worker")[:1]))


@task
def collectstatic(c: Context) -> None:
    """``manage.py collectstatic`` on web and worker servers (1.x ``collectstatic``)."""
    app_servers(c, changing(c), APP_ROLES, django.collectstatic, "collectstatic")


@task
def restart_nginx(c: Context) -> None:
    """Restart nginx on the web servers (1.x ``restart_nginx``)."""
    app_servers(c, changing(c), ("web",), lambda app: service(app.cxn, "nginx", "restart"), "restart_nginx", secrets=False)


@task(help={
    "command": "supervisorctl command: start, stop, restart or status",
    "group": "program group: web, celery or pgbouncer",
    "process": "one program of the group (default: all of them)",
})
def supervisor(c: Context, command: str, group: str, process: str | None = None) -> None:
    """``supervisorctl <command> <env>-<group>:*`` on web and worker servers (1.x ``supervisor``)."""
    app_servers(c, changing(c), APP_ROLES, lambda app: services.supervisor(app, command, group, process), "supervisor", secrets=False)


@task(types={"stay_healthy": "flag"}, help={
    "stay_healthy": "yes: keep passing the load balancers' health check meanwhile; no: fail it too",
})
def begin_upgrade(c: Context, stay_healthy: str = "yes") -> None:
    """Serve the upgrade page on the web servers (1.x ``begin_upgrade``)."""
    app_servers(c, changing(c), ("web",), lambda app: services.begin_upgrade(app, flag(stay_healthy)), "begin_upgrade", secrets=False)


@task
def end_upgrade(c: Context) -> None:
    """Remove the upgrade page from the web servers (1.x ``end_upgrade``)."""
    app_servers(c, changing(c), ("web",), services.end_upgrade, "end_upgrade", secrets=False)


@task(help={
    "changeset": "git revision to deploy (default: the head of the environment's branch)",
})
def deploy_web(c: Context, changeset: str | None = None) -> None:
    """Deploy the code to every web server (1.x ``deploy_web``)."""
    app_servers(c, changing(c), ("web",), lambda app: release.deploy_web_server(app, changeset), "deploy_web")


@task(help={
    "changeset": "git revision to deploy (default: the head of the environment's branch)",
})
def deploy_worker(c: Context, changeset: str | None = None) -> None:
    """Deploy every worker: the first migrates and collects static files, then the others (1.x did only the first);
    then flag the deployment (see flag_deployment)."""
    env = changing(c)
    stack = stack_of(c, env)
    workers = stack.by_role("worker")
    deployed: list[str] = []
    app_servers(c, env, ("worker",), lambda app: _kept(deployed, release.deploy_worker_server(app, changeset)),
                "deploy_worker", stack=with_workers(stack, workers[:1]))
    if len(workers) > 1:
        app_servers(c, env, ("worker",), lambda app: release.deploy_worker_server(app, deployed[0], run_migrations=False),
                    "deploy_worker", stack=with_workers(stack, workers[1:]))
    _flag(c, env, deployed[0], required=False)


@task
def upload_newrelic_conf(c: Context) -> None:
    """The New Relic agent's ini files for web and Celery, when newrelic_license_key is among password_names
    (1.x ``upload_newrelic_conf``)."""
    app_servers(c, changing(c), APP_ROLES, newrelic.upload_newrelic_conf, "upload_newrelic_conf")


@task
def flag_deployment(c: Context) -> None:
    """Post New Relic deployment markers for the web and Celery applications at the first worker's changeset
    (1.x ``flag_deployment``, which posted once per worker with the API key on curl's command line)."""
    env = changing(c)
    stack = stack_of(c, env)
    changesets: list[str] = []
    app_servers(c, env, ("worker",), lambda app: _kept(changesets, code.current_changeset(app)), "current_changeset",
                secrets=False, stack=with_workers(stack, stack.by_role("worker")[:1]))
    _flag(c, env, changesets[0], required=True)


def _kept(found: list, value: object) -> Any:
    """``value``, also kept in ``found`` (what an action on one server returned, for the task to use)."""
    found.append(value)
    return value


def _flag(c: Context, env: Environment, changeset: str, required: bool) -> None:
    store = Secrets(env.settings, env.deployment, env.environment, aws_for(c))
    flagged = newrelic.flag_if_configured(env.settings, env.deployment, env.environment, changeset, store)
    if required and not flagged:
        raise ConfigError(f"password_names: add {newrelic.API_KEY} to flag deployments")


TASKS = (
    "setup_dirs", "clone_repo", "update_source", "current_changeset", "create_virtualenv", "update_requirements",
    "update_local_settings", "upload_supervisor_conf", "upload_pgbouncer_conf", "upload_nginx_conf", "update_services",
    "bootstrap", "managepy", "migrate", "collectstatic", "restart_nginx", "supervisor", "begin_upgrade", "end_upgrade",
    "deploy_web", "deploy_worker", "upload_newrelic_conf", "flag_deployment",
)
for _name in TASKS:
    globals()[_name].narrows = True  # they honour 1.x's per-task roles=/hosts= (fabulaws/fabric1.py)
