"""CloudFront invalidation after collectstatic (``cloudfront_distribution_ids``): a notice to an outside service.

It runs after the static files it describes are in place, waits at most a few seconds per attempt, and any
failure (unknown distribution, no permission, CloudFront unreachable) is a warning: stale cached files for a
while are no reason to fail, let alone roll back, a deploy whose migrations may already have run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.config import Config

from ....aws import Aws
from ....aws.cloudfront import invalidate_everything
from ....aws.types import Client
from ....report import say, warn
from ..environment import Environment

if TYPE_CHECKING:
    from fabulaws.config import Settings
    from fabulaws.library.wsgiautoscale.app import ServerApp

# Short: connect 5 s, read 15 s, two attempts; a shared client would wait 60 s per attempt, three times.
NOTICE_CONFIG = Config(user_agent_extra="fabulaws/2", connect_timeout=5, read_timeout=15,
                       retries={"mode": "standard", "max_attempts": 2})


def notice_client(aws: Aws, service: str) -> Client:
    """A client of ``service`` with NOTICE_CONFIG's short timeouts (still refusing writes under ``--dry``)."""
    return aws.client_with(service, NOTICE_CONFIG)


def distribution_of(settings: Settings, deployment: str, environment: str) -> str | None:
    """The environment's distribution by the settings' one lookup rule (see Environment.cloudfront_distribution_id)."""
    return Environment(settings, deployment, environment).cloudfront_distribution_id


def invalidate(aws: Aws, distribution: str, report: Callable[[str], None] | None = None) -> bool:
    """Invalidate everything (``/*``) in ``distribution``; True if CloudFront took it, False (warned) if not."""
    say(report, f"Creating invalidation request for CloudFront Distribution {distribution}")
    try:
        invalidate_everything(notice_client(aws, "cloudfront"), distribution)
    except Exception as exc:  # noqa: BLE001 - an optional notice: whatever went wrong is a warning
        warn(report, f"CloudFront invalidation of {distribution} failed ({type(exc).__name__}: {exc}); the deploy "
                     "goes on: cached static files stay until they expire or you invalidate them")
        return False
    return True


def invalidate_if_configured(app: ServerApp) -> bool:
    """invalidate() for the environment's distribution, if ``cloudfront_distribution_ids`` names one."""
    distribution = app.stack.env.cloudfront_distribution_id
    return invalidate(app.aws, distribution, app.report) if distribution else False
