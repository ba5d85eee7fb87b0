"""Secrets tasks: update_server_passwords and update_local_fabsecrets.

Each secret of ``password_names`` lives on every server as ``HOME/<name>``
(deploy user, mode 0600), where the application's tasks read it. The secrets the
tool makes (``GENERATED``) travel the same way, to the servers of their
``holders`` roles: another operator's run finds them there instead of making a
second CA. Values travel over SFTP and are never echoed, logged or put on a
command line.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from pathlib import Path

from fabric import Connection
from invoke import Context

from ....config import Settings
from ....errors import DeployError, UsageError
from ....prompts import confirm
from ....remote.commands import join, sudo
from ....remote.files import put
from ....report import reporter
from ....secrets import GENERATED, Secrets
from ..announce import announce_change
from ..context import aws_for, connections_for, selected_environment, stack_of
from ..environment import Environment
from ..servers.each import Connections, on_each
from ..stack import Server, Stack
from .base import task


def server_secret_path(settings: Settings, name: str) -> str:
    return posixpath.join(settings.home, name)


def read_server_secret(cxn: Connection, settings: Settings, name: str) -> str | None:
    """The copy of secret ``name`` on the server (None if it has none); 1.x's files end with one newline."""
    result = sudo(cxn, join("cat", server_secret_path(settings, name)), hide=True, warn=True)
    if not result.ok:
        return None
    return result.stdout[:-1] if result.stdout.endswith("\n") else result.stdout


def holders(stack: Stack, name: str) -> list[Server]:
    """The servers that keep a copy of secret ``name``: its GENERATED holders' roles, else every server."""
    generated = GENERATED.get(name)
    if generated is None or generated.holders is None:
        return stack.all_servers()
    return [server for server in stack.all_servers() if set(stack.roles_of(server)) & set(generated.holders)]


def travelling_names(settings: Settings) -> list[str]:
    """What update_server_passwords writes and update_local_fabsecrets copies back: password_names, then GENERATED."""
    return list(settings.password_names) + [name for name in GENERATED if name not in settings.password_names]


def server_copies(connections: Connections, settings: Settings, find_stack: Callable[[], Stack]) -> Callable[[str], str | None]:
    """A Secrets ``server_reader``: the copy of a secret on the first server that keeps one (None when the
    environment has no such server). An unreachable server is an error, never "none": a generated secret
    would be made twice."""
    found: list[Stack] = []

    def read(name: str) -> str | None:
        if not found:
            found.append(find_stack())  # discovered on the first name the store lacks, once
        for server in holders(found[0], name):
            try:
                cxn = connections.open(server)
                try:
                    value = read_server_secret(cxn, settings, name)
                finally:
                    cxn.close()
            except Exception as exc:  # noqa: BLE001 - any failure: unknown is not "none", say so and stop
                raise DeployError(f"cannot read {name} from {server.hostname or server.private_ip} "
                                  f"({type(exc).__name__}: {exc}); it is not in the store, and a new one would "
                                  "differ from the servers'") from None
            if value is not None:
                return value
        return None

    return read


def environment_secrets(c: Context, env: Environment) -> Secrets:
    """``env``'s secrets as a task that may make the GENERATED ones reads them: store, servers' copies, then made."""
    reader = server_copies(connections_for(c), env.settings, lambda: Stack.discover(env, aws_for(c).ec2))
    return Secrets(env.settings, env.deployment, env.environment, aws_for(c), server_reader=reader)


@task
def update_server_passwords(c: Context) -> None:
    """Write every secret of password_names to HOME/<name> (mode 0600) on every server of the environment,
    and those fabulaws made (tls_ca, database_replication_password...) that the store has to the servers that keep them.

    Replaces 1.x ``fab <env> update_server_passwords``; run it as ``fabulaws -u <you> <env> update_server_passwords``.
    """
    env = selected_environment(c)
    announce_change(c, env)
    write_server_passwords(c, env)


def write_server_passwords(c: Context, env: Environment) -> None:
    """update_server_passwords on ``env`` (for tasks that do it among other things)."""
    settings = env.settings
    stack = stack_of(c, env)
    store = Secrets(settings, env.deployment, env.environment, aws_for(c))
    values = store.load(settings.password_names)
    # the generated ones the store has (a fresh file without them leaves the servers' copies alone)
    values.update({name: value for name, value in store.local_only(travelling_names(settings)).items()
                   if value is not None and name not in values})
    kept_by = {name: {server.instance_id for server in holders(stack, name)} for name in values}

    def write(cxn: Connection, server: Server) -> str:
        here = {name: value for name, value in values.items() if server.instance_id in kept_by[name]}
        changed = [
            name for name, value in here.items()
            if put(cxn, value + "\n", server_secret_path(settings, name), owner=settings.deploy_user, mode="0600")
        ]
        return f"{len(changed)} of {len(here)} secrets updated"

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
    everywhere = Stack.discover(selection, aws_for(c).ec2)  # the generated ones' holders, never narrowed by -H
    copies = server_copies(connections_for(c), settings, lambda: everywhere)
    local = secrets.local_only([name for name in GENERATED if name not in values])
    for name, kept in local.items():  # the servers' copy, else the local one: never dropped
        found = copies(name) or kept
        if found is not None:
            values[name] = found
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

