"""reboot_environment and mount_encrypted: servers restarted in order, and LUKS volumes opened after a boot."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

from fabric import Connection
from invoke import Context

from ....errors import DeployError, UsageError
from ....prompts import confirm_production
from ....secrets import Secrets
from ....waits import Polling
from ..announce import announce_change
from ..context import (
    aws_for,
    connections_for,
    environment_of,
    select,
    selected_environment,
    stack_of,
)
from ..deploy.exclusive import environment_locked
from ..environment import Environment
from ..servers.each import on_each
from ..servers.reboot import Rebooter, plan_reboot, replacement_held
from ..servers.unlock import unlock_server
from ..stack import Server, Stack
from .base import task
from .operations import report


def _passphrase(c: Context, env: Environment, ask_now: bool) -> Callable[[], str]:
    """The luks_passphrase secret, read once (now, or when a locked volume first needs it)."""
    secrets = Secrets(env.settings, env.deployment, env.environment, aws_for(c))
    lock = threading.Lock()

    def get() -> str:
        with lock:
            return secrets.get("luks_passphrase")

    if ask_now:
        get()
    return get


def _unlocker(stack: Stack, env: Environment, passphrase: Callable[[], str], drive_letter: str = "f"
              ) -> Callable[[Connection, Server], str]:
    app_root = env.settings.instance_settings.app_root

    def unlock(cxn: Connection, server: Server) -> str:
        return unlock_server(cxn, stack.roles_of(server), app_root, passphrase, drive_letter)

    return unlock


def _group_name(env: Environment) -> str | None:
    """The web Auto Scaling group's name, or None when the environment has none configured."""
    groups = env.settings.auto_scaling_groups or {}
    if env.deployment not in groups and env.environment not in groups:
        return None
    return env.group_name


@task(types={"sleep_time": "seconds", "poll": "seconds"}, help={
    "deployment": "deployment to act on (a name in the config's deployments, e.g. myproject)",
    "environment": "environment to act on (a name in the config's environments, e.g. staging)",
    "sleep_time": "seconds each server may take to come back (new boot, volumes open, services up) and each load "
                  "balancer to call it healthy; 1.x slept this long instead",
    "poll": "seconds between checks while waiting",
    "answer": "y confirms a production run without asking; n refuses (default: ask on the terminal)",
})
def reboot_environment(c: Context, deployment: str, environment: str, sleep_time: float = 600, poll: float = 2,
                       answer: str | None = None) -> None:
    """Reboot every server in order: database primary and cache, replicas, workers, then the web servers one at a
    time out of their load balancers; each waited for until it serves again (replaces 1.x ``reboot_environment``)."""
    env = environment_of(c, deployment, environment)
    if env.is_production:
        confirm_production("reboot_environment", environment, answer,
                           warning="The site is down while its database and cache servers reboot.")
    select(c, env)
    announce_change(c, env)
    stack = stack_of(c, env)
    stages = plan_reboot(stack)
    if not stages:
        raise DeployError(f"no running servers in {deployment} {environment}")
    passphrase = _passphrase(c, env, ask_now=env.settings.instance_settings.luks)
    aws = aws_for(c)
    # looks grow from poll to 5 s at most: a server that is back should not wait 15 s for the next look
    polling = Polling(float(poll), max(float(poll), 5.0))
    rebooter = Rebooter(aws, stack, connections_for(c), float(sleep_time), polling, report,
                        unlock=_unlocker(stack, env, passphrase))
    with (environment_locked(aws, deployment, environment, "reboot_environment", report),
          replacement_held(aws.autoscaling, _group_name(env), report)):
        order = rebooter.run(stages)
    report(f"Rebooted {len(order)} server(s) of {deployment} {environment}, in this order: {', '.join(order)}")


@task(help={
    "drive_letter": "servers made by 1.x only (no /etc/crypttab line): the data volume is /dev/sd<letter> or "
                    "/dev/xvd<letter>",
})
def mount_encrypted(c: Context, drive_letter: str = "f") -> None:
    """Open every server's locked LUKS data volume (passphrase: the luks_passphrase secret, on stdin), mount it and
    start the services that use it; servers already open are left alone (replaces 1.x ``mount_encrypted``)."""
    if not re.fullmatch(r"[a-z]", str(drive_letter)):
        raise UsageError(f"drive_letter: expected one lowercase letter such as f, got {drive_letter!r}")
    env = selected_environment(c)
    stack = stack_of(c, env)
    servers = stack.all_servers()
    if not servers:
        report("no hosts found; exiting cleanly")
        return
    announce_change(c, env)
    unlock = _unlocker(stack, env, _passphrase(c, env, ask_now=True), drive_letter)
    on_each(connections_for(c), servers, unlock, "mount_encrypted")
