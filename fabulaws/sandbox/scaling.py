"""The Auto Scaling control loop moto does not run: capacity, processes, health, replacement.

https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-suspend-resume-processes.html
Each tick, for every group: Pending instances whose EC2 instance runs go
InService (and are registered with the group's load balancers unless
AddToLoadBalancer is suspended); health checks mark instances Unhealthy after the
grace period (HealthCheck); Unhealthy instances are terminated (ReplaceUnhealthy
with Terminate); the group launches up to desired (Launch), balanced across
zones, and scales in with its termination policies (Terminate); AZRebalance
launches in the smallest zone before the scale-in trims the largest.
"""

from __future__ import annotations

import calendar
import logging
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from moto.autoscaling.models import InstanceState

from .backends import backend, regional
from .health import CLASSIC, TARGET_GROUP, HealthTracker
from .termination import Candidate, Current, choose_victims
from .timing import Timings

ASG_NAME_TAG = "aws:autoscaling:groupName"
log = logging.getLogger("fabulaws.sandbox.scaling")
ACTIVE = ("Pending", "InService")


def suspended(group: Any) -> set[str]:
    return {p["ProcessName"] for p in group.suspended_processes}


def _epoch(value: Any) -> float:
    """Epoch seconds of moto's naive-UTC datetimes (with microseconds: order matters)."""
    if hasattr(value, "timetuple"):
        return calendar.timegm(value.timetuple()) + value.microsecond / 1e6
    return 0.0


class GroupController:
    """Runs every group's control loop on each tick (the caller holds the sandbox lock)."""

    def __init__(self, timings: Timings, health: HealthTracker, min_grace: float = 0.0) -> None:
        """``min_grace``: the least grace period in real seconds (hosts boot in real time)."""
        self.timings = timings
        self.health = health
        self.min_grace = min_grace

    def tick(self, now: float) -> None:
        for region, autoscaling in regional("autoscaling"):
            self._run_scheduled_actions(autoscaling)
            for group in list(autoscaling.autoscaling_groups.values()):
                self.reconcile(region, autoscaling, group, now)

    def _run_scheduled_actions(self, autoscaling: Any) -> None:
        """One-time scheduled actions whose start time has come set min/max/desired (ScheduledActions)."""
        for action in list(autoscaling.scheduled_actions.values()):
            start = _parse_time(action.start_time)
            if getattr(action, "sandbox_done", False) or action.recurrence or start is None:
                continue
            if start > datetime.now(UTC):
                continue
            action.sandbox_done = True  # a suspended process skips the action, as on AWS
            group = autoscaling.autoscaling_groups.get(action.auto_scaling_group_name)
            if group is None or "ScheduledActions" in suspended(group):
                continue
            for attribute in ("min_size", "max_size", "desired_capacity"):
                value = getattr(action, attribute)
                if value is not None:
                    setattr(group, attribute, int(value))

    # --- one group -------------------------------------------------------------------------
    def reconcile(self, region: str, autoscaling: Any, group: Any, now: float) -> None:
        off = suspended(group)
        self._drop_terminated(group)
        for state in group.instance_states:
            if state.lifecycle_state == "Pending" and state.instance.state == "running":
                state.lifecycle_state = "InService"
                state.sandbox_in_service_at = now
                if "AddToLoadBalancer" not in off:
                    register(autoscaling, group, [state.instance.id])
        if "HealthCheck" not in off:
            self._check_health(region, group, now)
        if "ReplaceUnhealthy" not in off and "Terminate" not in off:
            for state in [s for s in group.instance_states if s.health_status == "Unhealthy"]:
                terminate_member(autoscaling, group, state)
        refreshing = bool(active_refresh(group))
        active = [s for s in group.instance_states if s.lifecycle_state in ACTIVE]
        desired = group.desired_capacity or 0
        if len(active) < desired and "Launch" not in off:
            launch(region, group, desired - len(active), now)
        elif len(active) > desired and "Terminate" not in off and not refreshing and not self._rebalancing(group):
            self._scale_in(autoscaling, group, len(active) - desired)
        elif "AZRebalance" not in off and "Launch" not in off and "Terminate" not in off and not refreshing:
            self._rebalance(region, group, active, now)

    def _drop_terminated(self, group: Any) -> None:
        """Instances terminated through EC2 leave the group (and are replaced like any missing capacity)."""
        group.instance_states = [s for s in group.instance_states if s.instance.state not in ("terminated", "shutting-down")]

    def _check_health(self, region: str, group: Any, now: float) -> None:
        grace = max(self.timings.real(group.health_check_grace_period or 0), self.min_grace)
        for state in group.instance_states:
            if state.lifecycle_state != "InService" or state.health_status == "Unhealthy":
                continue
            if now - getattr(state, "sandbox_in_service_at", now) < grace:
                continue
            if state.instance.state != "running":
                state.health_status = "Unhealthy"
                log.info("%s: %s is Unhealthy (instance %s)", group.name, state.instance.id, state.instance.state)
            elif group.health_check_type == "ELB" and self._failing_load_balancer_check(region, group, state):
                state.health_status = "Unhealthy"
                log.info("%s: %s is Unhealthy (failing its load balancer health check)", group.name, state.instance.id)

    def _failing_load_balancer_check(self, region: str, group: Any, state: Any) -> bool:
        checks = [(CLASSIC, name) for name in group.load_balancer_names]
        checks += [(TARGET_GROUP, arn) for arn in group.target_group_arns]
        return any(self.health.is_healthy(region, kind, name, state.instance.id) is False for kind, name in checks)

    def _scale_in(self, autoscaling: Any, group: Any, count: int) -> None:
        members = [s for s in group.instance_states if s.lifecycle_state in ACTIVE]
        candidates = [candidate(autoscaling, s) for s in members]
        victims = set(choose_victims(candidates, count, list(group.termination_policies), current_of(group), time.time()))
        for state in [s for s in members if s.instance.id in victims]:
            terminate_member(autoscaling, group, state)

    def _rebalancing(self, group: Any) -> bool:
        """A rebalancing launch waits until its instance is InService before anything is terminated."""
        return any(getattr(s, "sandbox_reason", "") == "rebalance" and s.lifecycle_state == "Pending" for s in group.instance_states)

    def _rebalance(self, region: str, group: Any, active: list, now: float) -> None:
        zones = list(group.availability_zones)
        if len(zones) < 2 or any(s.lifecycle_state == "Pending" for s in active):
            return
        per_zone = Counter({zone: 0 for zone in zones})
        per_zone.update(s.instance.placement.zone for s in active if s.instance.placement.zone in per_zone)
        smallest = min(zones, key=lambda zone: per_zone[zone])
        if max(per_zone.values()) - per_zone[smallest] > 1 and len(active) < (group.max_size or 0) + 1:
            launch(region, group, 1, now, zone=smallest, reason="rebalance")


# --- actions shared with instance refresh and the API patches ------------------------------
def launch(region: str, group: Any, count: int, now: float, zone: str | None = None, reason: str = "", spec: dict | None = None) -> list[Any]:
    """Launch ``count`` instances for ``group`` (Pending), each in its least-populated zone."""
    ec2 = backend("ec2", region)
    spec = spec or launch_spec(group)
    subnets = _subnets_by_zone(ec2, group)
    launched = []
    for _ in range(count):
        target_zone = zone or _least_populated_zone(group)
        tags = {tag["Key"]: tag["Value"] for tag in group.tags if tag.get("PropagateAtLaunch")}
        tags.update(spec["instance_tags"])
        tags[ASG_NAME_TAG] = group.name
        kwargs: dict[str, Any] = {
            "instance_type": spec["instance_type"],
            "is_instance_type_default": False,
            "placement": target_zone,
            "region_name": region,
            "tags": {"instance": tags},
            "key_name": spec["key_name"],
            "monitoring_state": "enabled" if spec["monitoring"] else "disabled",
        }
        if target_zone in subnets:
            kwargs["subnet_id"] = subnets[target_zone]
        if spec["template"]:
            kwargs["launch_template"] = spec["template"]
        if spec["launch_config"] is not None:
            kwargs["launch_config"] = spec["launch_config"]
        reservation = ec2.run_instances(spec["image_id"], 1, spec["user_data"], spec["security_groups"], **kwargs)
        for instance in reservation.instances:
            instance.autoscaling_group = group
            state = InstanceState(
                instance,
                lifecycle_state="Pending",
                protected_from_scale_in=group.new_instances_protected_from_scale_in,
                autoscaling_group=group,
            )
            # the sandbox's own notes on moto's record
            state.sandbox_launch = {"launch_config": spec["launch_config_name"], "template": spec["template"]}  # type: ignore[attr-defined]
            state.sandbox_reason = reason  # type: ignore[attr-defined]
            group.instance_states.append(state)
            launched.append(state)
            log.info("%s: launched %s in %s%s", group.name, instance.id, target_zone, f" ({reason})" if reason else "")
    return launched


def launch_spec(group: Any, template_override: dict | None = None) -> dict:
    """What a new instance of ``group`` is launched with: the group's configuration, resolved."""
    template = None
    if template_override or group.ec2_launch_template is not None:
        ec2 = group.ec2_backend
        if template_override:
            lt = (
                ec2.get_launch_template(template_override["LaunchTemplateId"])
                if template_override.get("LaunchTemplateId")
                else ec2.get_launch_template_by_name(template_override["LaunchTemplateName"])
            )
            requested = template_override.get("Version") or "$Default"
        else:
            lt = group.ec2_launch_template
            requested = group.launch_template_version or "$Default"
        version = lt.get_version(requested)
        data = version.data
        template = {"LaunchTemplateId": lt.id, "LaunchTemplateName": lt.name, "Version": str(version.number)}
        return {
            "image_id": version.image_id,
            "instance_type": version.instance_type or "m1.small",
            "user_data": version.user_data,
            "security_groups": list(data.get("SecurityGroupIds", [])) + list(data.get("SecurityGroups", [])),
            "key_name": data.get("KeyName"),
            "monitoring": bool(data.get("Monitoring", {}).get("Enabled")),
            "instance_tags": dict(version.instance_tags),
            "launch_config": None,
            "launch_config_name": None,
            "template": template,
        }
    config = group.launch_config
    return {
        "image_id": config.image_id,
        "instance_type": config.instance_type,
        "user_data": config.user_data,
        "security_groups": list(config.security_groups),
        "key_name": config.key_name,
        "monitoring": bool(config.instance_monitoring_enabled),
        "instance_tags": {},
        "launch_config": config,
        "launch_config_name": config.name,
        "template": None,
    }


def current_of(group: Any) -> Current:
    spec = launch_spec(group)
    if spec["template"]:
        return Current(None, spec["template"]["LaunchTemplateId"], int(spec["template"]["Version"]))
    return Current(spec["launch_config_name"])


def matches(state: Any, target: Current) -> bool:
    """Whether ``state`` was launched with configuration ``target``."""
    launched = getattr(state, "sandbox_launch", None) or {}
    if target.launch_config:
        return launched.get("launch_config") == target.launch_config
    template = launched.get("template") or {}
    return (template.get("LaunchTemplateId"), _int(template.get("Version"))) == (target.template_id, target.template_version)


def candidate(autoscaling: Any, state: Any) -> Candidate:
    launched = getattr(state, "sandbox_launch", None) or {}
    config_name = launched.get("launch_config")
    config = autoscaling.launch_configurations.get(config_name) if config_name else None
    template = launched.get("template") or {}
    return Candidate(
        instance_id=state.instance.id,
        zone=state.instance.placement.zone,
        launched_at=_epoch(state.instance.launch_time),
        launch_config=config_name,
        launch_config_created=_epoch(getattr(config, "created_time", None)) if config else 0.0,
        template_id=template.get("LaunchTemplateId"),
        template_version=_int(template.get("Version")),
        protected=bool(state.protected_from_scale_in),
    )


def register(autoscaling: Any, group: Any, instance_ids: list[str]) -> None:
    """Register instances with every load balancer and target group of ``group``."""
    for name in group.load_balancer_names:
        if name in autoscaling.elb_backend.load_balancers:
            balancer = autoscaling.elb_backend.load_balancers[name]
            new = [i for i in instance_ids if i not in balancer.instance_ids]
            autoscaling.elb_backend.register_instances(name, new, from_autoscaling=True)
    for arn in group.target_group_arns:
        if arn in autoscaling.elbv2_backend.target_groups:
            autoscaling.elbv2_backend.register_targets(arn, [{"Id": i} for i in instance_ids])


def deregister_everywhere(region: str, instance_ids: list[str]) -> None:
    """Remove instances from every classic ELB and target group of the region."""
    ids = set(instance_ids)
    elb = backend("elb", region)
    for balancer in elb.load_balancers.values():
        if ids & set(balancer.instance_ids):
            elb.deregister_instances(balancer.name, list(ids & set(balancer.instance_ids)))
    elbv2 = backend("elbv2", region)
    for group in elbv2.target_groups.values():
        registered = [{"Id": i} for i in ids if i in group.targets]
        if registered:
            group.deregister(registered)


def terminate_member(autoscaling: Any, group: Any, state: Any) -> None:
    """Take ``state`` out of the group, out of its load balancers, and terminate its instance."""
    if state in group.instance_states:
        group.instance_states.remove(state)
    instance = state.instance
    if instance.state not in ("terminated", "shutting-down"):
        log.info("%s: terminating %s (%s)", group.name, instance.id, state.health_status)
        instance.sandbox_leaving_group = True  # its host drains from the balancers first, as on AWS
        autoscaling.ec2_backend.terminate_instances([instance.id])


def active_refresh(group: Any) -> Any:
    for refresh in getattr(group, "sandbox_refreshes", []):
        if refresh.status in ("Pending", "InProgress", "Cancelling"):
            return refresh
    return None


def _least_populated_zone(group: Any) -> str:
    zones = list(group.availability_zones)
    counts = Counter({zone: 0 for zone in zones})
    counts.update(s.instance.placement.zone for s in group.instance_states if s.lifecycle_state in ACTIVE)
    return min(zones, key=lambda zone: (counts[zone], zones.index(zone)))


def _subnets_by_zone(ec2: Any, group: Any) -> dict[str, str]:
    if not group.vpc_zone_identifier:
        return {}
    subnets: dict[str, Any] = {}
    for subnet_id in group.vpc_zone_identifier.split(","):
        subnet = ec2.get_subnet(subnet_id.strip())
        subnets.setdefault(subnet.availability_zone, subnet.id)
    return subnets


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
