"""The application on web and worker servers: code, virtualenv, settings, services (1.x reference 3.4).

Every function takes an :class:`AppServer`: one connection to one server plus
what its files are rendered from (settings, the environment's servers, secrets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ....remote.commands import as_user
from ..paths import Paths
from ..stack import Stack


@dataclass
class AppServer:
    """One web or worker server of a (deployment, environment), connected."""

    cxn: Any
    settings: Any
    stack: Stack
    roles: list[str]
    secrets: Any  # fabulaws.secrets.Secrets
    aws: Any = None
    report: Callable[[str], None] = print

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
