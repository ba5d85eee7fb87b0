"""What tasks read from invoke's Config: the settings file, the selected environment, -u and -H.

invoke's Config carries only what the command line selected; everything else
comes from the validated settings.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke import Context

from ...aws import Aws
from ...config import Settings, find_config_file, load_settings
from ...errors import ConfigError, UsageError
from .environment import Environment
from .stack import Stack

if TYPE_CHECKING:
    from .servers.each import Connections

from ...cli import NAMESPACE, PROJECT_HOOKS  # noqa: F401 - set by the program, read here

# NAMESPACE: the invoke config key for what the command line selected (deployment,
# environment, -u, -H, --profile, --region). PROJECT_HOOKS: tasks a project's fabfile
# may define that the built-in tasks call (1.x: ``post_bootstrap`` after bootstrap).


@dataclass(frozen=True)
class Selection:
    deployment: str
    environment: str


def _namespace(c: Context) -> dict:
    data = c.config.get(NAMESPACE) if hasattr(c, "config") else None
    return dict(data or {})


def _update(c: Context, **values: object) -> None:
    data = _namespace(c)
    data.update(values)
    c.config[NAMESPACE] = data  # type: ignore[assignment]  # invoke's stubs type config values as str


def project_settings(path: Path | str | None = None) -> Settings:
    """Settings from ``path`` (default: the nearest file from the working directory up), loaded once per file version."""
    path = Path(path or find_config_file()).resolve()
    return _load_cached(str(path), path.stat().st_mtime_ns)


def settings_for(c: Context) -> Settings:
    """The project's settings (``fabulaws.config_file`` or the nearest file from the working directory up)."""
    return project_settings(_namespace(c).get("config_file"))


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> Settings:
    return load_settings(path)


@functools.lru_cache(maxsize=8)
def _aws(region: str | None, profile: str | None, project_region: str | None, project_profile: str | None,
         environment: tuple) -> Aws:
    # ``environment`` (the AWS_* variables) is only part of the cache key: Aws reads them itself.
    return Aws(region, profile, project_region=project_region, project_profile=project_profile)


def aws_for(c_or_settings: Context | Settings) -> Aws:
    """Shared boto3 clients for a task's Context (or Connection), or for bare Settings.

    Profile and region as the AWS CLI chooses them (fabulaws.aws.session): ``--profile``/``--region``
    (``c.config.fabulaws``), then the environment, then the settings' ``aws_profile``/``region``,
    then the profile's own region. ConfigError if no region is found, or if ``avail_zones``/``subnets``
    name zones of another region.
    """
    if isinstance(c_or_settings, Settings):
        settings, chosen = c_or_settings, {}
    else:
        settings, chosen = settings_for(c_or_settings), _namespace(c_or_settings)
    environment = tuple(sorted((key, value) for key, value in os.environ.items() if key.startswith("AWS_")))
    aws = _aws(chosen.get("region"), chosen.get("profile"), settings.region, settings.aws_profile, environment)
    if settings.zone_region and settings.zone_region != aws.region:
        raise settings.error(
            ("avail_zones",),
            f"names zones of {settings.zone_region}, but the region is {aws.region} (from {aws.region_source}); "
            "give zones by letter (a, b) to use them in any region",
        )
    return aws


def select(c: Context, env: Environment) -> None:
    """Remember the environment chosen on the command line (checked when ``env`` was built) for the tasks that follow."""
    _update(c, deployment=env.deployment, environment=env.environment)


def selected(c: Context) -> Selection:
    """The selected environment; UsageError (listing the environment tasks) if none was chosen."""
    data = _namespace(c)
    if not data.get("environment"):
        names = ", ".join(settings_for(c).environments)
        raise UsageError(f"no environment selected; run an environment task first (one of: {names}), e.g. `fabulaws testing <task>`")
    return Selection(data["deployment"], data["environment"])


def ssh_user(c: Context) -> str | None:
    """The ``-u`` user, if one was given."""
    return _namespace(c).get("user")


def operator_name(c: Context) -> str:
    """Who logs in to servers once the image's user is retired: ``-u`` or the local user, as in 1.x."""
    return ssh_user(c) or getpass.getuser()


def project_hook(c: Context, name: str) -> Callable[..., Any] | None:
    """The fabfile's task ``name`` (one of PROJECT_HOOKS), or None; ``c`` is any Context or Connection."""
    return (_namespace(c).get("hooks") or {}).get(name)


def connections_for(c: Context) -> Connections:
    """How tasks reach servers: as the operator (``-u`` or the local user), with ``c``'s Fabric config and the
    project's ``remote_timeouts`` (the defaults for a fabfile's own use without a configuration file)."""
    from .servers.each import Connections

    try:
        timeouts = settings_for(c).remote_timeouts
    except ConfigError:
        timeouts = None
    return Connections(operator_name(c), c.config, timeouts)


def cli_hosts(c: Context) -> list[str]:
    """The ``-H`` hosts, if any were given."""
    return list(_namespace(c).get("hosts") or [])


def task_roles(c: Context) -> list[str]:
    """The running task's own ``roles=`` (1.x's per-task selection, fabulaws/fabric1.py), if any."""
    return list(_namespace(c).get("task_roles") or [])


def task_hosts(c: Context) -> list[str]:
    """The running task's own ``hosts=``, if any (they win over ``-H``, as in 1.x)."""
    return list(_namespace(c).get("task_hosts") or [])


@contextlib.contextmanager
def narrowed_to(c: Context, roles: list[str] | tuple[str, ...] = (), hosts: list[str] | tuple[str, ...] = ()) -> Iterator[None]:
    """For a fabfile: the built-in tasks called inside act only on ``roles``/``hosts`` (1.x's
    ``execute(task, roles=[...], hosts=[...])``); the task's own selection is back afterwards."""
    before = _namespace(c)
    _update(c, task_roles=list(roles), task_hosts=list(hosts))
    try:
        yield
    finally:
        _update(c, task_roles=before.get("task_roles") or [], task_hosts=before.get("task_hosts") or [])


def narrowed_roles(c: Context, settings: Settings, roles: tuple[str, ...]) -> tuple[str, ...]:
    """``roles`` (what a task acts on) narrowed to the task's ``roles=``; UsageError for a role the project does not
    have or one this task does not act on (nothing done)."""
    wanted = task_roles(c)
    if not wanted:
        return roles
    unknown = [role for role in wanted if role not in settings.valid_roles]
    if unknown:
        raise UsageError(f"roles={';'.join(unknown)}: not a role of this project (valid_roles: {', '.join(settings.valid_roles)})")
    kept = tuple(role for role in roles if role in wanted)
    if not kept:
        raise UsageError(f"roles={';'.join(wanted)}: this task acts on {', '.join(roles)} servers only")
    return kept


def named_servers(c: Context, servers: list, exact_cli_hosts: bool = False) -> list:
    """``servers`` narrowed to those the task's ``hosts=`` names (and ``-H`` with ``exact_cli_hosts``) exactly."""
    hosts = set(task_hosts(c) or (cli_hosts(c) if exact_cli_hosts else []))
    return [server for server in servers if server.names & hosts] if hosts else list(servers)


def chosen_servers(c: Context, stack: Stack) -> list:
    """The servers a task acting on the whole environment runs on: every role's, narrowed by the task's roles=,
    hosts= or -H (exactly those): ad-hoc commands, log shippers, monitoring."""
    roles = narrowed_roles(c, stack.settings, tuple(stack.settings.valid_roles))
    servers = [s for s in stack.all_servers() if set(stack.roles_of(s)) & set(roles)]
    return named_servers(c, servers, exact_cli_hosts=True)


def environment_of(c: Context, deployment: str, environment: str) -> Environment:
    """The checked Environment value a task builds once (UsageError for an unknown deployment or environment)."""
    return Environment.of(settings_for(c), deployment, environment)


def selected_environment(c: Context) -> Environment:
    """The Environment of the environment task that ran before (UsageError if none did)."""
    selection = selected(c)
    return environment_of(c, selection.deployment, selection.environment)


def stack_of(c: Context, env: Environment) -> Stack:
    """``env``'s running servers (one DescribeInstances), narrowed to the task's ``hosts=`` or ``-H`` hosts if any."""
    return Stack.discover(env, aws_for(c).ec2).narrowed(task_hosts(c) or cli_hosts(c))


def discover(c: Context, deployment: str, environment: str) -> Stack:
    """The environment's Stack, narrowed to ``-H`` hosts if any (for fabfiles; tasks use ``stack_of``)."""
    return stack_of(c, environment_of(c, deployment, environment))
