"""Gaps and bad values of each environment, found at load, decided when an environment is selected.

Every environment-keyed entry (``branches``, ``auto_scaling_groups``, ``server_ports``, ``site_domains_map``,
``use_basic_auth``, and values of the other maps written under an environment) is checked for every configured
environment when the file is loaded. A problem is kept with the environment it belongs to: selecting that
environment is an error (before any AWS call); working on another one prints it as a warning. Real 1.x files
carry half-filled entries for environments they never use (an empty domain under ``production``) and must keep
loading; a deploy must not find the gap after its bake server was launched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from ..errors import ConfigError
from .maps import find
from .messages import validation_error
from .yamlsource import KeyPath, YamlSource

if TYPE_CHECKING:
    from fabulaws.config import Settings

log = logging.getLogger("fabulaws.config")
_warned: set[str] = set()  # each warning once per process (a command line may select several times)

# Deployment maps every (deployment, environment) needs an entry in; the others are optional features.
REQUIRED_DEPLOYMENT_MAPS = ("branches",)
# ... needed wherever the map is used at all (a project without an Auto Scaling group leaves it empty).
REQUIRED_IF_USED = ("auto_scaling_groups",)


@dataclass(frozen=True)
class Problem:
    """One gap or bad value, belonging to ``environment`` (and ``deployment``, for deployment maps)."""

    environment: str
    deployment: str | None
    key: str  # the top-level key
    where: str  # "fabulaws-config.yml:24"
    error: ConfigError  # "fabulaws-config.yml:24: site_domains_map.production: expected ..."

    def concerns(self, environment: str, deployment: str | None) -> bool:
        return self.environment == environment and (self.deployment is None or deployment in (None, self.deployment))

    def warning(self) -> str:
        text = str(self.error)
        rest = text[len(self.where) + 2:] if text.startswith(self.where + ": ") else text
        return f"{self.where}: warning: {rest} (only a problem when working on {self.environment})"


class Problems:
    """The problems found while loading, in file order."""

    def __init__(self, source: YamlSource) -> None:
        self.source = source
        self.found: list[Problem] = []

    def add(self, environment: str, deployment: str | None, path: KeyPath, message: str) -> None:
        self.add_error(environment, deployment, path, self.source.error(path, message))

    def add_error(self, environment: str, deployment: str | None, path: KeyPath, error: ConfigError) -> None:
        self.found.append(Problem(environment, deployment, str(path[0]), self.source.where(path), error))

    def validated(self, environment: str, deployment: str | None, path: KeyPath, adapter: TypeAdapter,
                  annotation: object, value: object) -> tuple[bool, Any]:
        """``(True, value)`` validated by ``adapter``; ``(False, value)`` with a problem recorded if it is not valid."""
        try:
            return True, adapter.validate_python(value)
        except ValidationError as exc:
            self.add_error(environment, deployment, path, validation_error(self.source, exc, annotation, path))
            return False, value


def check_environment_entries(settings: Settings, source: YamlSource, problems: Problems) -> None:
    """Record the gaps and bad values of every environment in ``problems``; validated values replace raw ones."""
    from .schema import (
        Port,  # the schema imports this module's neighbours; late to keep imports one-way
    )

    _check_deployment_maps(settings, source, problems)
    ports = settings.server_ports
    port = TypeAdapter(Port)
    for env in settings.environments:
        if env not in ports:
            problems.add(env, None, ("server_ports",), f"no entry for environment {env!r} (expected server_ports.{env})")
        else:
            ok, ports[env] = problems.validated(env, None, ("server_ports", env), port, Port, ports[env])
    _check_site_domains(settings, problems)
    auth = TypeAdapter(bool)
    for env, value in settings.use_basic_auth.items():
        ok, settings.use_basic_auth[env] = problems.validated(env, None, ("use_basic_auth", env), auth, bool, value)


def _check_deployment_maps(settings: Settings, source: YamlSource, problems: Problems) -> None:
    for key in (*REQUIRED_DEPLOYMENT_MAPS, *REQUIRED_IF_USED):
        mapping = getattr(settings, key)
        if key in REQUIRED_IF_USED and not mapping:
            continue
        for deployment in settings.deployments:
            for env in settings.environments:
                if _bad_value_recorded(problems, key, env, deployment):
                    continue
                try:
                    value = find(source, mapping, key, deployment, env)
                except ConfigError as exc:
                    path: tuple[str, ...] = (key, deployment) if isinstance(mapping.get(deployment), dict) else (key,)
                    problems.add_error(env, deployment, path, exc)
                    continue
                if isinstance(value, str) and not value.strip():
                    path = (key, deployment, env) if isinstance(mapping.get(deployment), dict) else (key, env)
                    problems.add(env, deployment, path, f"expected a non-empty value for {deployment} {env}")


def _bad_value_recorded(problems: Problems, key: str, env: str, deployment: str) -> bool:
    return any(p.key == key and p.concerns(env, deployment) for p in problems.found)


def _check_site_domains(settings: Settings, problems: Problems) -> None:
    domains_map = settings.site_domains_map
    for env in settings.environments:
        if env not in domains_map:
            problems.add(env, None, ("site_domains_map",),
                         f"no entry for environment {env!r} (expected site_domains_map.{env}: a list of domains)")
            continue
        domains = domains_map[env]
        path = ("site_domains_map", env)
        if domains is None:
            problems.add(env, None, path, "expected a list, got nothing")
        elif not isinstance(domains, list):
            problems.add(env, None, path, f"expected a list of domain names, got {domains!r}")
        elif not domains:
            problems.add(env, None, path, "expected at least one site domain for this environment")
        else:
            for index, domain in enumerate(domains):
                if not isinstance(domain, str) or not domain.strip():
                    problems.add(env, None, path + (index,), "expected a non-empty domain name")
                    break



def check_selected(settings: Settings, deployment: str | None, environment: str) -> None:
    """Before a task works on ``environment``: ConfigError for its first gap or bad value; a warning line (once)
    for each problem of the other environments. An unknown environment is left to the task's own check."""
    if environment not in settings.environments:
        return
    for line in settings.check_environment(environment, deployment):
        if line not in _warned:
            _warned.add(line)
            log.warning(line)
