"""Environment-selection tasks: ``fabulaws staging <task>``, one per configured environment."""

from __future__ import annotations

from typing import Any

from ....config.environments import check_selected
from ....errors import UsageError
from ....prompts import confirm
from ..context import select
from .base import task


def environment_task(settings: Any, environment: str) -> Any:
    """A task named ``environment`` that selects it for the tasks that follow on the command line."""
    default_deployment = settings.default_deployment

    def select_environment(c, deployment_tag=default_deployment, answer=None):
        check_selected(settings, deployment_tag, environment)  # its gaps in the config: an error before anything
        if settings.is_production(environment):
            question = f"Are you sure you want to activate the {environment} environment?"
            if not confirm(question, answer):
                raise UsageError(f"{environment.capitalize()} environment not activated.")
        select(c, deployment_tag, environment)

    select_environment.__name__ = environment.replace("-", "_")
    select_environment.__doc__ = (
        f"Select the {environment} environment (of deployment {default_deployment} unless deployment_tag is given)."
    )
    return task(name=environment, help={
        "deployment_tag": f"deployment to select (default: {default_deployment}, the config's default_deployment)",
        "answer": "y selects a production environment without asking; n refuses (default: ask on the terminal)",
    })(select_environment)
