"""Ad-hoc commands on the selected servers: 1.x's ``call_server_method`` and ``run_shell_command``.

Both act on every server of the selected environment, or on those 1.x's per-task ``roles=``/``hosts=`` or ``-H``
name, in parallel; each server's output follows a banner as 1.x printed it, then one summary line. Every remote
command has its deadline (``remote_timeouts``, fabulaws/remote/connect.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from fabric import Connection
from invoke import Context

from ....aws import Aws
from ....aws.instances import instance_memory_mib
from ....errors import DeployError, UsageError
from ....remote.commands import sudo
from ....ubuntu import apt, system
from ..announce import announce_change
from ..context import (
    aws_for,
    chosen_servers,
    connections_for,
    selected_environment,
    stack_of,
)
from ..environment import Environment
from ..servers.each import on_each
from ..stack import Server
from .base import flag, task


@dataclass(frozen=True)
class Outcome:
    """What one server said: its output, and whether the command succeeded."""

    output: str
    ok: bool
    status: str


Method = Callable[[Connection, Server, Environment, Aws], str]


def _setup_swap(cxn: Connection, server: Server, env: Environment, aws: Aws) -> str:
    multiplier = env.settings.instance_settings.swap_multiplier or 0
    if multiplier <= 0:
        return "swap_multiplier is 0: no swap wanted"
    memory = instance_memory_mib(aws.ec2, server.instance_id)
    added = system.setup_swap(cxn, multiplier, env.settings.instance_settings.app_root, memory)
    return f"{added} MiB of swap added"


def _upgrade_packages(cxn: Connection, server: Server, env: Environment, aws: Aws) -> str:
    apt.update(cxn)
    with system.services_held(cxn):
        apt.upgrade(cxn)
    return "packages upgraded"


def _server_memory(cxn: Connection, server: Server, env: Environment, aws: Aws) -> str:
    return f"{system.memory_mb(cxn)} MiB"


def _ubuntu_release(cxn: Connection, server: Server, env: Environment, aws: Aws) -> str:
    return " ".join(apt.distribution(cxn))


# 1.x's server (EC2Instance) methods that make sense on a running server, and what does each here.
METHODS: dict[str, Method] = {
    "setup_swap": _setup_swap,
    "upgrade_packages": _upgrade_packages,
    "server_memory": _server_memory,
    "ubuntu_release": _ubuntu_release,
}

def banner(verb: str, what: str, server: Server, roles: list[str]) -> str:
    """1.x's " *** calling X on host (role) ***" line."""
    return f" *** {verb} {what} on {server.hostname or server.private_ip} ({roles[0] if roles else server.role}) ***"


def on_servers(c: Context, env: Environment, name: str, verb: str, what: str,
               act: Callable[[Connection, Server], Outcome]) -> None:
    """``act`` on the chosen servers in parallel; then each one's banner (`` *** <verb> <what> on ...``) and output
    in server order, one summary line naming the task ``name``, and DeployError (exit status 1) if any failed."""
    stack = stack_of(c, env)
    servers, roles_of = chosen_servers(c, stack), stack.roles_of
    if not servers:
        raise UsageError(f"{name}: no running server of {env.deployment} {env.environment} matches the selection")
    outcomes: dict[str, Outcome] = {}

    def action(cxn: Connection, server: Server) -> str:
        outcome = act(cxn, server)
        outcomes[server.instance_id] = outcome
        return outcome.status

    problems: dict[str, str] = {}
    try:
        on_each(connections_for(c), servers, action, name)
    except DeployError as exc:  # unreachable servers and deadlines: named below with the others
        for server in servers:
            if server.instance_id not in outcomes:
                problems[server.instance_id] = _reason(str(exc), server)
    failed = []
    for server in servers:
        print(f"\n{banner(verb, what, server, roles_of(server))}\n", flush=True)
        outcome = outcomes.get(server.instance_id)
        if outcome is None:
            print(f"FAILED: {problems.get(server.instance_id, 'no result')}", flush=True)
            failed.append(server)
            continue
        if outcome.output:
            print(outcome.output.rstrip("\n"), flush=True)
        if not outcome.ok:
            print(f"FAILED: {outcome.status}", flush=True)
            failed.append(server)
    summary = f"{name}: {len(servers) - len(failed)} of {len(servers)} server(s) succeeded, {len(failed)} failed"
    if failed:
        names = ", ".join(f"{s.hostname or s.private_ip} ({s.role})" for s in failed)
        raise DeployError(f"{summary}: {names}")
    print(f"\n{summary}", file=sys.stderr, flush=True)


def _reason(message: str, server: Server) -> str:
    """The line of on_each's error that names ``server``."""
    for line in message.splitlines():
        if server.hostname and server.hostname in line or server.private_ip and server.private_ip in line:
            return line.strip()
    return message.splitlines()[0]


@task(types={"use_sudo": "flag"}, help={
    "command": "shell command line to run on each server, e.g. 'uptime' (quote it for your local shell)",
    "use_sudo": "yes: run it as root through sudo; no: as the user you log in as (default)",
})
def run_shell_command(c: Context, command: str, use_sudo: str = "no") -> None:
    """Run a shell command on every server of the environment, or on those roles=, hosts= or -H name; each
    server's output, then one summary line (1.x ``run_shell_command``)."""
    as_root = flag(use_sudo)
    if not command.strip():
        raise UsageError("run_shell_command: command is empty")
    env = selected_environment(c)
    announce_change(c, env)

    def act(cxn: Connection, server: Server) -> Outcome:
        result = (sudo(cxn, command, hide=True, warn=True) if as_root else cxn.run(command, hide=True, warn=True))
        output = result.stdout + (result.stderr if result.stderr else "")
        return Outcome(output, result.ok, "ok" if result.ok else f"exit status {result.exited}")

    on_servers(c, env, "run_shell_command", "running", command if len(command) <= 60 else command[:57] + "...", act)


@task(help={
    "method": "what to call on each server: setup_swap, upgrade_packages, server_memory or ubuntu_release",
})
def call_server_method(c: Context, method: str) -> None:
    """Call one of 1.x's zero-argument server methods (setup_swap, upgrade_packages, server_memory, ubuntu_release)
    on every server of the environment, or on those roles=, hosts= or -H name (1.x ``call_server_method``)."""
    if method not in METHODS:
        raise UsageError(f"call_server_method: unknown method {method!r}; known: {', '.join(METHODS)}")
    env = selected_environment(c)
    announce_change(c, env)
    aws = aws_for(c)
    call = METHODS[method]

    def act(cxn: Connection, server: Server) -> Outcome:
        line = call(cxn, server, env, aws)
        return Outcome(line, True, line)

    on_servers(c, env, "call_server_method", "calling", method, act)


run_shell_command.narrows = True  # roles=/hosts= (fabulaws/fabric1.py)
call_server_method.narrows = True

TASKS = ("call_server_method", "run_shell_command")
