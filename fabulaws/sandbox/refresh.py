"""Instance Refresh: StartInstanceRefresh, DescribeInstanceRefreshes, CancelInstanceRefresh.

https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-overview.html
With MaxHealthyPercentage above 100 the refresh launches replacements first
(up to the extra capacity it allows) and terminates old instances once the new
ones are InService and warmed up; otherwise it terminates old instances in
batches that keep MinHealthyPercentage of the group healthy and lets the group
launch their replacements. SkipMatching leaves instances already on the desired
configuration alone.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.autoscaling.exceptions import AutoscalingClientError

from .backends import regional
from .scaling import (
    ACTIVE,
    active_refresh,
    current_of,
    launch,
    launch_spec,
    matches,
    suspended,
    terminate_member,
)
from .termination import Current
from .timing import Timings


class RefreshError(AutoscalingClientError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


@dataclass
class Refresh:
    """One instance refresh of one group."""

    id: str
    group_name: str
    min_healthy: int
    max_healthy: int
    warmup: float  # AWS seconds
    skip_matching: bool
    desired_template: dict | None
    target: Current
    to_replace: set[str]
    total: int
    status: str = "Pending"
    status_reason: str = ""
    start_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    end_time: datetime | None = None
    replaced: int = 0

    def describe(self) -> dict:
        percentage = 100 if self.status == "Successful" else math.floor(100 * self.replaced / self.total) if self.total else 0
        result = {
            "InstanceRefreshId": self.id,
            "AutoScalingGroupName": self.group_name,
            "Status": self.status,
            "StatusReason": self.status_reason,
            "StartTime": self.start_time,
            "PercentageComplete": percentage,
            "InstancesToUpdate": max(0, len(self.to_replace)),
            "Preferences": {
                "MinHealthyPercentage": self.min_healthy,
                "MaxHealthyPercentage": self.max_healthy,
                "InstanceWarmup": int(self.warmup),
                "SkipMatching": self.skip_matching,
            },
        }
        if self.end_time:
            result["EndTime"] = self.end_time
        if self.desired_template:
            result["DesiredConfiguration"] = {"LaunchTemplate": self.desired_template}
        return result

    def finish(self, status: str, reason: str = "") -> None:
        self.status, self.status_reason = status, reason
        self.end_time = datetime.now(UTC)


def start_refresh(group: Any, preferences: dict, desired_configuration: dict | None) -> Refresh:
    """Validate and record a new refresh (AWS's errors for the invalid cases)."""
    if active_refresh(group):
        raise RefreshError(
            "InstanceRefreshInProgress",
            "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.",
        )
    min_healthy = int(preferences.get("MinHealthyPercentage", 90))
    max_healthy = int(preferences.get("MaxHealthyPercentage", 100))
    if not 0 <= min_healthy <= 100 or not 100 <= max_healthy <= 200 or max_healthy - min_healthy > 100:
        raise RefreshError("ValidationError", "Invalid MinHealthyPercentage/MaxHealthyPercentage combination.")
    if min_healthy == 100 and max_healthy == 100:
        raise RefreshError("ValidationError", "MinHealthyPercentage of 100 requires a MaxHealthyPercentage above 100.")
    template = (desired_configuration or {}).get("LaunchTemplate")
    spec = launch_spec(group, template) if template else None
    target = (
        Current(None, spec["template"]["LaunchTemplateId"], int(spec["template"]["Version"])) if spec else current_of(group)
    )
    skip = bool(preferences.get("SkipMatching", False))
    members = [s for s in group.instance_states if s.lifecycle_state in ACTIVE]
    to_replace = {s.instance.id for s in members if not (skip and matches(s, target))}
    warmup = preferences.get("InstanceWarmup", group.health_check_grace_period or 0)
    refresh = Refresh(
        id=str(uuid.uuid4()),
        group_name=group.name,
        min_healthy=min_healthy,
        max_healthy=max_healthy,
        warmup=float(warmup),
        skip_matching=skip,
        desired_template=template,
        target=target,
        to_replace=to_replace,
        total=len(to_replace),
    )
    group.sandbox_refreshes = [refresh, *getattr(group, "sandbox_refreshes", [])]
    return refresh


def cancel_refresh(group: Any) -> Refresh:
    refresh = active_refresh(group)
    if refresh is None:
        raise RefreshError(
            "ActiveInstanceRefreshNotFound", f"No in progress or pending Instance Refresh found for Auto Scaling group {group.name}"
        )
    refresh.status = "Cancelling"
    return refresh


class RefreshController:
    """Advances every group's active refresh on each tick (the caller holds the sandbox lock)."""

    def __init__(self, timings: Timings) -> None:
        self.timings = timings

    def tick(self, now: float) -> None:
        for region, autoscaling in regional("autoscaling"):
            for group in list(autoscaling.autoscaling_groups.values()):
                refresh = active_refresh(group)
                if refresh is not None:
                    self.advance(region, autoscaling, group, refresh, now)

    def advance(self, region: str, autoscaling: Any, group: Any, refresh: Refresh, now: float) -> None:
        if refresh.status == "Cancelling":
            refresh.finish("Cancelled", "Instance refresh cancelled.")
            return
        if "InstanceRefresh" in suspended(group):
            return
        refresh.status = "InProgress"
        members = [s for s in group.instance_states if s.lifecycle_state in ACTIVE]
        present = {s.instance.id for s in members}
        refresh.replaced += len(refresh.to_replace - present)
        refresh.to_replace &= present
        warming = [s for s in members if s.instance.id not in refresh.to_replace and not self._warmed(s, refresh, now)]
        if warming:
            return  # replacements must be InService and warmed up before the next batch
        if not refresh.to_replace:
            if refresh.desired_template:
                _adopt_template(group, refresh.desired_template)
            refresh.finish("Successful")
            return
        spec = launch_spec(group, refresh.desired_template) if refresh.desired_template else None
        desired = group.desired_capacity or 0
        if refresh.max_healthy > 100:
            # Launch before terminating: first the extra capacity, then trim the old instances.
            if len(members) > desired:
                self._replace(autoscaling, group, refresh, len(members) - desired)
            else:
                ceiling = max(desired + 1, math.floor(desired * refresh.max_healthy / 100))
                launch(region, group, min(ceiling - len(members), len(refresh.to_replace)), now, reason="refresh", spec=spec)
            return
        # Terminate first, never below MinHealthyPercentage (at least one at a time), then launch replacements.
        healthy = [s for s in members if s.health_status == "Healthy" and self._warmed(s, refresh, now)]
        batch = max(1, len(healthy) - math.ceil(desired * refresh.min_healthy / 100))
        replaced = self._replace(autoscaling, group, refresh, batch)
        launch(region, group, replaced, now, reason="refresh", spec=spec)

    def _replace(self, autoscaling: Any, group: Any, refresh: Refresh, count: int) -> int:
        """Terminate up to ``count`` instances still to replace, oldest first; returns how many."""
        old = [s for s in group.instance_states if s.instance.id in refresh.to_replace and s.lifecycle_state in ACTIVE]
        victims = sorted(old, key=lambda s: (s.instance.launch_time, s.instance.id))[:count]
        for state in victims:
            terminate_member(autoscaling, group, state)
            refresh.to_replace.discard(state.instance.id)
            refresh.replaced += 1
        return len(victims)

    def _warmed(self, state: Any, refresh: Refresh, now: float) -> bool:
        if state.lifecycle_state != "InService":
            return False
        return now - getattr(state, "sandbox_in_service_at", now) >= self.timings.real(refresh.warmup)


def _adopt_template(group: Any, template: dict) -> None:
    """At the end of a refresh with a desired configuration, the group uses that template."""
    group._set_launch_configuration(None, template, None)
