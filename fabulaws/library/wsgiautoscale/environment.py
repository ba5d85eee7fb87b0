"""One (deployment, environment) and every name the configuration derives for it: the value a task builds once.

Checked when built (an unknown deployment or environment is a UsageError naming the choices); each derived name
is read through the settings' one lookup rule (fabulaws/config/maps.py) the first time it is used, so a gap in
the config fails the task that needs that name, not every task on the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ...config import Settings
from ...config.messages import did_you_mean
from ...errors import UsageError
from .paths import Paths


def check_selection(settings: Settings, deployment: str, environment: str) -> None:
    """UsageError naming the valid choices if ``deployment`` or ``environment`` is unknown."""
    for label, value, choices in (
        ("deployment", deployment, settings.deployments),
        ("environment", environment, settings.environments),
    ):
        if value not in choices:
            raise UsageError(
                f"unknown {label} {value!r}; choose a valid {label}: {', '.join(choices)}{did_you_mean(value, choices)}"
            )


@dataclass(frozen=True)
class Environment:
    """What the configuration says about one environment of one deployment (no AWS call, no servers)."""

    settings: Settings = field(repr=False, compare=False)
    deployment: str
    environment: str

    @classmethod
    def of(cls, settings: Settings, deployment: str, environment: str) -> Environment:
        """The checked value: UsageError (listing the choices) for an unknown deployment or environment."""
        check_selection(settings, deployment, environment)
        return cls(settings, deployment, environment)

    def optional(self, key: str) -> Any:
        """A deployment map's value (``key`` in config/maps.py DEPLOYMENT_MAPS) or None when it has none for this
        environment (an optional integration that is simply not configured here)."""
        mapping = getattr(self.settings, key)
        inner = mapping.get(self.deployment)
        if isinstance(inner, dict) and self.environment not in inner:
            return None
        return self.settings.deployment_setting(key, self.deployment, self.environment, default=None) or None

    @property
    def is_production(self) -> bool:
        return self.settings.is_production(self.environment)

    @cached_property
    def paths(self) -> Paths:
        return Paths.for_environment(self.settings, self.deployment, self.environment)

    @cached_property
    def group_name(self) -> str:
        """The web Auto Scaling group's name (``auto_scaling_groups``)."""
        return self.settings.deployment_setting("auto_scaling_groups", self.deployment, self.environment)

    @cached_property
    def load_balancer_names(self) -> list[str]:
        return self.settings.deployment_setting("load_balancers", self.deployment, self.environment, default=[])

    @cached_property
    def target_group_names(self) -> list[str]:
        return self.settings.deployment_setting("target_groups", self.deployment, self.environment, default=[])

    @cached_property
    def branch(self) -> str:
        return self.settings.deployment_setting("branches", self.deployment, self.environment)

    @cached_property
    def cloudfront_distribution_id(self) -> str | None:
        """The CloudFront distribution collectstatic invalidates, if ``cloudfront_distribution_ids`` names one."""
        return self.optional("cloudfront_distribution_ids")

    @cached_property
    def server_port(self) -> int:
        return self.settings.environment_setting("server_ports", self.environment)

    @cached_property
    def site_domains(self) -> list[str]:
        return self.settings.environment_setting("site_domains_map", self.environment)

    @cached_property
    def basic_auth(self) -> bool:
        """Whether nginx asks for ``basic_auth_username``/``basic_auth_password`` (``use_basic_auth``)."""
        return bool(self.settings.environment_setting("use_basic_auth", self.environment, default=False))

    @cached_property
    def log_files(self) -> list[tuple[str, str, str | None]]:
        return self.paths.log_files(self.settings)
