"""Environment-selection tasks: ``fabulaws staging <task>``, one per configured environment."""

from __future__ import annotations

from invoke import Context, Task

from ....config import Settings
from ....config.environments import check_selected
from ....prompts import confirm_production
from ..context import select
from ..environment import Environment
from .base import task


def environment_task(settings: Settings, environment: str) -> Task:
    """A task named ``environment`` that selects it for the tasks that follow on the command line."""
    default_deployment = settings.default_deployment

    def select_environment(c: Context, deployment_tag: str = default_deployment, answer: str | None = None) -> None:
        check_selected(settings, deployment_tag, environment)  # its gaps in the config: an error before anything
        if settings.is_production(environment):
            confirm_production("tasks", environment, answer)
        select(c, Environment.of(settings, deployment_tag, environment))

    select_environment.__name__ = environment.replace("-", "_")
    select_environment.__doc__ = (
        f"Select the {environment} environment (of deployment {default_deployment} unless deployment_tag is given)."
    )
    return task(name=environment, help={
        "deployment_tag": f"deployment to select (default: {default_deployment}, the config's default_deployment)",
        "answer": "y selects a production environment without asking; n refuses (default: ask on the terminal)",
    })(select_environment)
