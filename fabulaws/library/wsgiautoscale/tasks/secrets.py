"""Secrets tasks: update_server_passwords and update_local_fabsecrets.

Each secret of ``password_names`` lives on every server as ``HOME/<name>``
(deploy user, mode 0600), where the application's tasks read it. Values travel
over SFTP and are never echoed, logged or put on a command line.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from fabric import Connection
from invoke import Context

from ....config import Settings
from ....errors import DeployError, UsageError
from ....prompts import confirm
from ....remote.commands import join, sudo
from ....remote.files import put
from ....report import reporter
from ....secrets import Secrets
from ..announce import announce_change
from ..context import aws_for, connections_for, selected_environment, stack_of
from ..environment import Environment
from ..servers.each import on_each
from .base import task


def server_secret_path(settings: Settings, name: str) -> str:
    return posixpath.join(settings.home, name)


def read_server_secret(cxn: Connection, settings: Settings, name: str) -> str | None:
    """The copy of secret ``name`` on the server (None if it has none); 1.x's files end with one newline."""
    result = sudo(cxn, join("cat", server_secret_path(settings, name)), hide=True, warn=True)
    if not result.ok:
        return None
    return result.stdout[:-1] if result.stdout.endswith("\n") else result.stdout


@task
def update_server_passwords(c: Context) -> None:
    """Write every secret of password_names to HOME/<name> (mode 0600) on every server of the environment.

    Replaces 1.x ``fab <env> update_server_passwords``; run it as ``fabulaws -u <you> <env> update_server_passwords``.
    """
    env = selected_environment(c)
    announce_change(c, env)
    write_server_passwords(c, env)


def write_server_passwords(c: Context, env: Environment) -> None:
    """update_server_passwords on ``env`` (for tasks that do it among other things)."""
    settings = env.settings
    stack = stack_of(c, env)
    values = Secrets(settings, env.deployment, env.environment, aws_for(c)).load(settings.password_names)

    def write(cxn: Connection, server: object) -> str:
        changed = [
            name for name, value in values.items()
            if put(cxn, value + "\n", server_secret_path(settings, name), owner=settings.deploy_user, mode="0600")
        ]
        return f"{len(changed)} of {len(values)} secrets updated"

    on_each(connections_for(c), stack.all_servers(), write, "update_server_passwords")


@task(help={
    "answer": "y overwrites the local fabsecrets file without asking; n refuses",
})
def update_local_fabsecrets(c: Context, answer: str | None = None) -> None:
    """Replace fabsecrets_<env>.py with the secrets stored on the environment's worker (file written 0600).

    Replaces 1.x ``fab <env> update_local_fabsecrets``. Asks before overwriting an
    existing file (``answer=y`` answers for you).
    """
    selection = selected_environment(c)
    settings = selection.settings
    if settings.secrets.store != "file":
        raise UsageError(f"secrets.store is {settings.secrets.store!r}: this project keeps no fabsecrets file to update")
    stack = stack_of(c, selection)
    workers = stack.by_role("worker")
    if not workers:
        raise DeployError(f"no running worker in {selection.deployment} {selection.environment} to copy the secrets from")
    target = settings.source.parent / f"fabsecrets_{selection.environment}.py"
    if target.exists():
        question = f"Are you sure you want to destroy {target} and replace it with a copy of the values from the worker on {selection.environment.upper()}?"
        if not confirm(question, answer):
            raise UsageError("Aborted.")
    secrets = Secrets(settings, selection.deployment, selection.environment)
    cxn = connections_for(c).open(workers[0])
    try:
        values = {}
        for name in settings.password_names:  # the worker's copies win over the local file, as in 1.x
            value = read_server_secret(cxn, settings, name)
            values[name] = value if value is not None else secrets.ask(name)
    finally:
        cxn.close()
    write_secrets_file(target, values)
    reporter().info(f"Wrote passwords to {target}")


def write_secrets_file(path: Path, values: dict[str, str]) -> None:
    """``name = 'value'`` lines (Python literals, so any string reads back the same), mode 0600 from the start."""
    text = "".join(f"{name} = {value!r}\n" for name, value in values.items())
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)

