"""Durations of AWS behaviour, in AWS seconds, and the one factor that speeds them all up."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields


@dataclass
class Timings:
    """How long AWS takes for things, in seconds as AWS would take them.

    ``scale`` divides every duration (and every load balancer health-check
    interval and group grace period): 20 means a 60 s boot takes 3 real seconds.
    """

    scale: float = 20.0
    instance_boot: float = 60.0  # pending -> running
    image_create: float = 60.0  # pending -> available
    volume_create: float = 10.0  # creating -> available
    volume_attach: float = 5.0  # attaching -> attached
    warmup: float = 30.0  # the warm-up probe: running this long, a server passes health checks

    def real(self, aws_seconds: float) -> float:
        """Real seconds for ``aws_seconds`` of AWS time."""
        return float(aws_seconds) / self.scale

    def update(self, values: dict) -> None:
        """Change some durations (unknown names are a ValueError)."""
        known = {f.name for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown timing {key!r}; known: {', '.join(sorted(known))}")
            if float(value) < 0 or (key == "scale" and float(value) <= 0):
                raise ValueError(f"{key} must be positive, got {value!r}")
            setattr(self, key, float(value))

    def as_dict(self) -> dict:
        return asdict(self)


def now() -> float:
    """The sandbox's clock (monotonic, real seconds)."""
    return time.monotonic()
