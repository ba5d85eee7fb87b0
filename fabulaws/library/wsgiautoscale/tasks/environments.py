"""Whole-environment tasks: create_environment, update_environment, update_sysadmin_users, upgrade_packages."""

from __future__ import annotations

import threading

from ....errors import DeployError, UsageError
from ....prompts import confirm
from ....ubuntu import apt, users
from ..announce import announce_change
from ..app.deploy import bootstrap
from ..app.steps import ApplicationSteps
from ..context import discover, select, selected, settings_for
from ..deploy.full import DEPLOY_FULL
from ..deploy.operation import execute
from ..servers.each import on_each
from ..servers.provision import ServerSpec
from ..stack import check_selection
from .app import app_servers
from .base import flag, task
from .deploy import _context, report
from .secrets import update_server_passwords
from .servers import check_creation, create_servers

BACKEND_ROLES = (("db-primary", 0), ("db-replica", 1), ("cache", 1), ("worker", 0))  # 1.x: role, index into avail_zones


def backend_specs(settings, deployment: str, environment: str) -> list[ServerSpec]:
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
def create_environment(c, deployment, environment, num_web=2, answer=None, poll=2, timeout=3600, rollback="yes"):
    """Create a whole environment: database, cache and worker servers in parallel while the web image is baked,
    then deploy_full with num_web web servers (replaces 1.x ``create_environment``)."""
    settings = settings_for(c)
    check_selection(settings, deployment, environment)
    if settings.is_production(environment) and not confirm(f"Create the {environment} environment from scratch?", answer):
        raise UsageError(f"{environment.capitalize()} environment not created.")
    specs = backend_specs(settings, deployment, environment)
    checked = check_creation(c, deployment, environment, specs)
    checked.load(settings.password_names)
    outcome: dict = {}

    def create_backends() -> None:
        try:
            create_servers(c, deployment, environment, specs, checked=checked)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            outcome["error"] = exc

    def backends_ready() -> None:
        """Wait for the backends, push the secrets to every server, bootstrap the workers."""
        report("Waiting for the database, cache and worker servers...")
        creating.join()
        if "error" in outcome:
            raise DeployError(f"the environment's servers could not all be created: {outcome['error']}")
        select(c, deployment, environment)
        update_server_passwords(c)
        app_servers(c, ("worker",), bootstrap, "bootstrap")

    params = {"launch_config_name": None, "num_web": int(num_web), "ami": None, "changeset": None}
    ctx = _context(c, deployment, environment, DEPLOY_FULL, params, poll, timeout,  # checks the group first
                   steps=ApplicationSteps(c, before_app=backends_ready))
    report(f"Creating {', '.join(f'{s.role} ({s.zone})' for s in specs)} while the web image is baked")
    creating = threading.Thread(target=create_backends, name="create-backends")
    creating.start()
    try:
        execute(DEPLOY_FULL, ctx, rollback=flag(rollback))
    finally:
        creating.join()
    report(f"The {environment} environment of {deployment} is created.")


@task
def update_sysadmin_users(c):
    """Bring every server's sysadmin accounts and the deploy user's keys in line with ssh_keys."""
    announce_change(c)
    settings = settings_for(c)
    selection = selected(c)
    admins = users.read_sysadmins(settings.ssh_keys)

    def update(cxn, server) -> str:
        users.create_sysadmins(cxn, admins, settings.instance_settings.admin_groups)
        users.create_deploy_user(cxn, settings.deploy_user, settings.home, admins)
        return f"{len(admins)} sysadmins"

    on_each(c, discover(c, selection.deployment, selection.environment).all_servers(), update, "update_sysadmin_users")


@task
def upgrade_packages(c):
    """apt-get update and dist-upgrade on every server of the environment."""
    announce_change(c)
    selection = selected(c)

    def upgrade(cxn, server) -> str:
        apt.update(cxn)
        apt.upgrade(cxn)
        return "upgraded"

    on_each(c, discover(c, selection.deployment, selection.environment).all_servers(), upgrade, "upgrade_packages")


@task(help={
    "deployment": "deployment to act on (a name in the config's deployments, e.g. myproject)",
    "environment": "environment to act on (a name in the config's environments, e.g. staging)",
})
def update_environment(c, deployment, environment):
    """update_sysadmin_users, update_server_passwords and upgrade_packages on every server (1.x ``update_environment``)."""
    select(c, deployment, environment)
    announce_change(c)
    update_sysadmin_users(c)
    update_server_passwords(c)
    upgrade_packages(c)
