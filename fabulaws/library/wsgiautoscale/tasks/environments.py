"""Whole-environment tasks: create_environment, update_environment, update_sysadmin_users, upgrade_packages."""

from __future__ import annotations

from fabric import Connection
from invoke import Context

from ....config import Settings
from ....prompts import confirm_production
from ....ubuntu import apt, users
from ..announce import announce_change
from ..app.engine_steps import ApplicationSteps
from ..app.release import bootstrap
from ..context import (
    connections_for,
    environment_of,
    project_hook,
    select,
    selected_environment,
    stack_of,
)
from ..deploy.full import DEPLOY_FULL
from ..deploy.operation import execute
from ..environment import Environment
from ..servers.alongside import Alongside, run_alongside
from ..servers.each import on_each
from ..servers.provision import ServerSpec
from ..stack import Server
from .app import app_servers
from .base import flag, task
from .operations import begin_operation, report
from .secrets import write_server_passwords
from .servers import check_creation, create_servers

BACKEND_ROLES = (("db-primary", 0), ("db-replica", 1), ("cache", 1), ("worker", 0))  # 1.x: role, index into avail_zones


def backend_specs(settings: Settings, deployment: str, environment: str) -> list[ServerSpec]:
    zones = settings.avail_zones
    return [ServerSpec(deployment, environment, role, zones[index % len(zones)])
            for role, index in BACKEND_ROLES if role in settings.valid_roles]


@task(types={"num_web": "count", "rollback": "flag", "poll": "seconds", "timeout": "seconds"}, help={
    "deployment": "deployment to act on (a name in the config's deployments, e.g. myproject)",
    "environment": "environment to act on (a name in the config's environments, e.g. staging)",
    "num_web": "number of web servers to launch",
    "answer": "y confirms a production run without asking; n refuses (default: ask on the terminal)",
    "poll": "seconds between AWS status checks while waiting",
    "timeout": "seconds each wait (servers, image, health) may take before giving up",
    "rollback": "yes: on failure before migrations, put back everything changed; no: leave it as it is for inspection",
})
def create_environment(c: Context, deployment: str, environment: str, num_web: int = 2, answer: str | None = None,
                       poll: float = 2, timeout: float = 3600, rollback: str = "yes") -> None:
    """Create a whole environment: database, cache and worker servers in parallel while the web image is baked,
    then deploy_full with num_web web servers (replaces 1.x ``create_environment``)."""
    env = environment_of(c, deployment, environment)
    settings = env.settings
    if env.is_production:
        confirm_production("create_environment", environment, answer)
    specs = backend_specs(settings, deployment, environment)
    checked = check_creation(c, env, specs)
    checked.load(settings.password_names)
    post_bootstrap = project_hook(c, "post_bootstrap")
    backends = Alongside(lambda: create_servers(c, env, specs, checked=checked), "create-backends",
                         "the environment's servers")

    def backends_ready() -> None:
        """Wait for the backends, push the secrets to every server, bootstrap the workers."""
        report("Waiting for the database, cache and worker servers...")
        backends.finish()
        select(c, env)
        write_server_passwords(c, env)
        app_servers(c, env, ("worker",), lambda app: bootstrap(app, post_bootstrap), "bootstrap")

    params = {"launch_config_name": None, "num_web": int(num_web), "ami": None, "changeset": None}
    ctx = begin_operation(c, env, DEPLOY_FULL, params, poll, timeout,  # checks the group first
                          steps=ApplicationSteps(connections_for(c), before_app=backends_ready, post_bootstrap=post_bootstrap))
    report(f"Creating {', '.join(f'{s.role} ({s.zone})' for s in specs)} while the web image is baked")
    run_alongside(lambda: execute(DEPLOY_FULL, ctx, rollback=flag(rollback)), backends)
    report(f"The {environment} environment of {deployment} is created.")


@task
def update_sysadmin_users(c: Context) -> None:
    """Bring every server's sysadmin accounts and the deploy user's keys in line with ssh_keys."""
    env = selected_environment(c)
    announce_change(c, env)
    update_sysadmins(c, env)


def update_sysadmins(c: Context, env: Environment) -> None:
    """update_sysadmin_users on ``env``."""
    settings = env.settings
    admins = users.read_sysadmins(settings.ssh_keys)

    def update(cxn: Connection, server: Server) -> str:
        users.create_sysadmins(cxn, admins, settings.instance_settings.admin_groups)
        users.create_deploy_user(cxn, settings.deploy_user, settings.home, admins)
        return f"{len(admins)} sysadmins"

    on_each(connections_for(c), stack_of(c, env).all_servers(), update, "update_sysadmin_users")


@task
def upgrade_packages(c: Context) -> None:
    """apt-get update and dist-upgrade on every server of the environment."""
    env = selected_environment(c)
    announce_change(c, env)
    upgrade_every_server(c, env)


def upgrade_every_server(c: Context, env: Environment) -> None:
    """upgrade_packages on ``env``."""

    def upgrade(cxn: Connection, server: Server) -> str:
        apt.update(cxn)
        apt.upgrade(cxn)
        return "upgraded"

    on_each(connections_for(c), stack_of(c, env).all_servers(), upgrade, "upgrade_packages")


@task(help={
    "deployment": "deployment to act on (a name in the config's deployments, e.g. myproject)",
    "environment": "environment to act on (a name in the config's environments, e.g. staging)",
})
def update_environment(c: Context, deployment: str, environment: str) -> None:
    """update_sysadmin_users, update_server_passwords and upgrade_packages on every server (1.x ``update_environment``)."""
    env = environment_of(c, deployment, environment)
    select(c, env)
    announce_change(c, env)
    update_sysadmins(c, env)
    write_server_passwords(c, env)
    upgrade_every_server(c, env)
