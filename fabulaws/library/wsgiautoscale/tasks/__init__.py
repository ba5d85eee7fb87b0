"""The built-in task collection, grouped by topic."""

from __future__ import annotations

from invoke import Task

from ....config import Settings
from . import adhoc, app, database, logs, monitoring
from .autoscaling import resume_autoscaling_processes, suspend_autoscaling_processes
from .balancers import add_all_to_elb, add_to_elb
from .describe import describe
from .environment import environment_task
from .environments import (
    create_environment,
    update_environment,
    update_sysadmin_users,
    upgrade_packages,
)
from .inplace import deploy_full_without_autoscaling, deploy_serial_without_autoscaling
from .maintenance import mount_encrypted, reboot_environment
from .operations import (
    create_launch_config_for_deployment,
    deploy_full,
    deploy_serial,
    prune,
    recover,
)
from .recreate import recreate_servers
from .replicas import promote_replica, reset_slaves
from .secrets import update_local_fabsecrets, update_server_passwords
from .servers import new

STATIC_TASKS = {
    "describe": describe,
    "suspend_autoscaling_processes": suspend_autoscaling_processes,
    "resume_autoscaling_processes": resume_autoscaling_processes,
    "create_launch_config_for_deployment": create_launch_config_for_deployment,
    "deploy_full": deploy_full,
    "deploy_serial": deploy_serial,
    "deploy_full_without_autoscaling": deploy_full_without_autoscaling,
    "deploy_serial_without_autoscaling": deploy_serial_without_autoscaling,
    "recover": recover,
    "prune": prune,
    "new": new,
    "update_server_passwords": update_server_passwords,
    "update_local_fabsecrets": update_local_fabsecrets,
    **{name: getattr(app, name) for name in app.TASKS},
    **{name: getattr(database, name) for name in database.TASKS},
    "create_environment": create_environment,
    "update_environment": update_environment,
    "update_sysadmin_users": update_sysadmin_users,
    "upgrade_packages": upgrade_packages,
    "add_to_elb": add_to_elb,
    "add_all_to_elb": add_all_to_elb,
    "reset_slaves": reset_slaves,
    "promote_replica": promote_replica,
    "recreate_servers": recreate_servers,
    "reboot_environment": reboot_environment,
    "mount_encrypted": mount_encrypted,
    **{name: getattr(monitoring, name) for name in monitoring.TASKS},
    **{name: getattr(adhoc, name) for name in adhoc.TASKS},
    **{name: getattr(logs, name) for name in logs.TASKS},
}


def builtin_tasks(settings: Settings) -> dict[str, Task]:
    """Every built-in task by name, including one environment task per configured environment."""
    tasks = dict(STATIC_TASKS)
    for environment in settings.environments:
        if environment in tasks or environment.replace("-", "_") in tasks:
            raise settings.error(("environments",), f"environment {environment!r} has the name of a built-in task; rename it")
        tasks[environment] = environment_task(settings, environment)
    return tasks


__all__ = ["STATIC_TASKS", "builtin_tasks"]
