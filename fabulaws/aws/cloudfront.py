"""CloudFront: invalidating a distribution's cached files."""

from __future__ import annotations

import time

from .types import Client


def invalidate_everything(cloudfront: Client, distribution: str) -> str:
    """CreateInvalidation of ``/*`` in ``distribution``; the invalidation's id."""
    batch = {"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": f"fabulaws-{time.time_ns()}"}
    return cloudfront.create_invalidation(DistributionId=distribution, InvalidationBatch=batch).get("Invalidation", {}).get("Id", "")
