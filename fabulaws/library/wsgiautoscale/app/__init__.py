"""The application on web and worker servers: code, virtualenv, settings, services.

Every function takes an :class:`ServerApp`: one connection to one server plus
what its files are rendered from (settings, the environment's servers, secrets).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fabric import Connection

from ....aws import Aws
from ....config import Settings
from ....remote.commands import as_user
from ....report import LOG_DIR, Reporter, reporter
from ....secrets import Secrets
from ..paths import Paths
from ..servers.each import Connections, on_each
from ..stack import Server, Stack

APP_ROLES = ("web", "worker")


def template(name: str) -> str:
    """One of our templates for the servers' files (app/templates)."""
    return resources.files(__package__).joinpath("templates", name).read_text()


@dataclass
class ServerApp:
    """One web or worker server of a (deployment, environment), connected."""

    cxn: Connection
    settings: Settings
    stack: Stack
    roles: list[str]
    secrets: Secrets
    aws: Aws
    report: Callable[[str], None] = field(default_factory=reporter)
    # A server being imaged serves no one: services whose configuration changed need no restart there (the image
    # boots with the files), only the site is restarted, so a site that does not start fails the bake.
    imaging: bool = False

    @property
    def deployment(self) -> str:
        return self.stack.deployment

    @property
    def environment(self) -> str:
        return self.stack.environment

    @property
    def paths(self) -> Paths:
        return self.stack.paths

    @property
    def host(self) -> str:
        return self.cxn.host

    def as_deploy_user(self, command: str, cwd: str | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("hide", True)
        return as_user(self.cxn, self.settings.deploy_user, command, cwd=cwd, **kwargs)

    def as_webserver_user(self, command: str, cwd: str | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("hide", True)
        return as_user(self.cxn, self.settings.webserver_user, command, cwd=cwd, **kwargs)


def on_app_servers(connections: Connections, servers: list[Server], action: Callable[[ServerApp], Any], what: str,
                   settings: Settings, stack: Stack,
                   secrets: Secrets, aws: Aws, report: Callable[[str], None] | None = None,
                   logs: Path | None = LOG_DIR) -> list[str]:
    """Run ``action`` on an ServerApp for each of ``servers`` in parallel (see ``on_each``): each server's remote
    output streams into its own log file under ``logs``; a string result is reported beside the server's name."""
    out = report or reporter()

    def act(cxn: Connection, server: Server) -> str:
        roles = [r for r in stack.roles_of(server) if r in APP_ROLES] or [server.role]
        result = action(ServerApp(cxn, settings, stack, roles, secrets, aws, out))
        return f"{what}: {result}" if isinstance(result, str) else f"{what}: done"

    return on_each(connections, servers, act, what, report=out if isinstance(out, Reporter) else None, logs=logs)
