"""Resources that take time on AWS: instances boot, images and volumes become available.

moto makes every instance running and every image and volume available at once;
here an instance is ``pending`` for the boot time, an image ``pending`` until it
is built, a volume ``creating`` and then ``available``, and an attachment
``attaching`` before ``attached``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .backends import regional
from .timing import Timings

RUNNING = 16


class Lifecycle:
    """Moves resources along their states on each tick (the caller holds the sandbox lock)."""

    def __init__(self, timings: Timings) -> None:
        self.timings = timings
        self.on_running: list[Callable[[str, Any], None]] = []  # (region, instance); hosts hook in here

    # --- called by the API patches when something is created -------------------------------
    def instance_pending(self, instance: Any, now: float) -> None:
        instance._state.name, instance._state.code = "pending", 0
        instance.sandbox_ready_at = now + self.timings.real(self.timings.instance_boot)
        instance.sandbox_running_since = None

    def image_pending(self, image: Any, now: float) -> None:
        image.state = "pending"
        image.sandbox_ready_at = now + self.timings.real(self.timings.image_create)

    def volume_creating(self, volume: Any, now: float) -> None:
        volume.sandbox_status = "creating"
        volume.sandbox_ready_at = now + self.timings.real(self.timings.volume_create)

    def volume_attaching(self, attachment: Any, now: float) -> None:
        attachment.status = "attaching"
        attachment.sandbox_ready_at = now + self.timings.real(self.timings.volume_attach)

    # --- the loop ---------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        for region, ec2 in regional("ec2"):
            for reservation in list(ec2.reservations.values()):
                for instance in reservation.instances:
                    if instance.state == "pending" and now >= getattr(instance, "sandbox_ready_at", 0):
                        instance._state.name, instance._state.code = "running", RUNNING
                        instance.sandbox_running_since = now
                        for hook in self.on_running:
                            hook(region, instance)
            for image in list(ec2.amis.values()):
                # with hosts, an image is available only once its layer and volume snapshots are copied
                ready = now >= getattr(image, "sandbox_ready_at", 0) and getattr(image, "sandbox_snapshot_done", True)
                if image.state == "pending" and ready:
                    image.state = "available"
            for volume in list(ec2.volumes.values()):
                if getattr(volume, "sandbox_status", None) == "creating" and now >= volume.sandbox_ready_at:
                    volume.sandbox_status = None
                attachment = volume.attachment
                if attachment is not None and attachment.status == "attaching" and now >= attachment.sandbox_ready_at:
                    attachment.status = "attached"
