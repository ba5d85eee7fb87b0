"""Say which account, region and environment a task is about to change, before it changes anything.

One line on stderr, e.g. ``fabulaws: account 123456789012, region us-east-1, myproject/staging``,
printed once per run for each target (tasks that call other tasks do not repeat it).
Read-only tasks (``describe``, ``current_changeset``) do not announce.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...report import reporter
from .context import NAMESPACE, aws_for, selected_environment
from .environment import Environment

if TYPE_CHECKING:
    from invoke import Context

ANNOUNCED = "announced"  # key of the invoke config namespace: the lines already printed in this run


def announcement(account: str, region: str, deployment: str, environment: str) -> str:
    """The line itself (pure)."""
    return f"fabulaws: account {account}, region {region}, {deployment}/{environment}"


def announce_change(c: Context, env: Environment | None = None) -> None:
    """Print the announcement for ``env`` (default: the selected environment).

    Side effects: one STS GetCallerIdentity call (read-only), a line on stderr. Idempotent within a run.
    Raises UsageError/ConfigError for an unknown or missing selection before any AWS call.
    """
    env = env or selected_environment(c)
    aws = aws_for(c)
    line = announcement(aws.account, aws.region, env.deployment, env.environment)
    data = dict(c.config.get(NAMESPACE) or {})
    done = list(data.get(ANNOUNCED) or [])
    if line in done:
        return
    reporter().notice(line)
    data[ANNOUNCED] = [*done, line]
    c.config[NAMESPACE] = data  # type: ignore[assignment]  # invoke annotates config values as str
