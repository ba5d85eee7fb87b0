"""Load balancer health checks: intervals, thresholds and a pluggable probe.

Every registration of an instance in a classic ELB or an ELBv2 target group has
a health state driven by its load balancer's health check, as AWS documents:
a new registration is OutOfService (classic) or ``initial`` (ELBv2) until it
passes HealthyThreshold consecutive checks, one every Interval seconds, and goes
OutOfService/``unhealthy`` after UnhealthyThreshold consecutive failures. A
deregistered target is ``draining`` for the group's deregistration delay.

What "passes" means is the probe's business: here a warm-up (the instance has
been running long enough); with real hosts, what haproxy observes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .backends import backend, regional
from .timing import Timings

CLASSIC = "elb"
TARGET_GROUP = "target-group"

CLASSIC_REASONS = {
    "registering": ("ELB", "Instance registration is still in progress."),
    "failed": ("Instance", "Instance has failed at least the UnhealthyThreshold number of health checks consecutively."),
    "InService": ("N/A", "N/A"),
}
TARGET_REASONS = {
    "initial": ("Elb.RegistrationInProgress", "Target registration is in progress"),
    "unhealthy": ("Target.FailedHealthChecks", "Health checks failed"),
    "draining": ("Target.DeregistrationInProgress", "Target deregistration is in progress"),
    "unused": ("Target.NotRegistered", "Target is not registered to the target group"),
}


@dataclass(frozen=True)
class HealthCheck:
    """A load balancer's health check, in AWS seconds."""

    protocol: str
    port: int
    path: str
    interval: float
    timeout: float
    healthy_threshold: int
    unhealthy_threshold: int

    @classmethod
    def classic(cls, check: Any) -> "HealthCheck":
        """From a classic ELB's ``Target`` string such as ``HTTPS:443/healthcheck.html``."""
        if check is None:  # AWS's default for a new classic load balancer
            return cls("TCP", 80, "", 30, 5, 10, 2)
        protocol, _, rest = check.target.partition(":")
        port, slash, path = rest.partition("/")
        return cls(
            protocol.upper(),
            int(port),
            slash + path,
            float(check.interval),
            float(check.timeout),
            int(check.healthy_threshold),
            int(check.unhealthy_threshold),
        )

    @classmethod
    def target_group(cls, group: Any) -> "HealthCheck":
        port = group.health_check_port if str(group.health_check_port).isdigit() else group.port
        return cls(
            (group.health_check_protocol or group.protocol or "HTTP").upper(),
            int(port or 80),
            group.health_check_path or "/",
            float(group.health_check_interval_seconds or 30),
            float(group.health_check_timeout_seconds or 5),
            int(group.healthy_threshold_count or 5),
            int(group.unhealthy_threshold_count or 2),
        )


@dataclass(frozen=True)
class Registration:
    """One instance registered in one load balancer (classic) or target group."""

    kind: str
    balancer: str  # classic ELB name, or target group ARN
    instance_id: str
    region: str


class Probe(Protocol):
    """Decides whether one health check of ``registration`` passes right now."""

    def passes(self, registration: Registration, instance: Any, check: HealthCheck) -> bool: ...


class WarmupProbe:
    """Passes once the instance has been running for ``timings.warmup`` AWS seconds."""

    def __init__(self, timings: Timings) -> None:
        self.timings = timings

    def passes(self, registration: Registration, instance: Any, check: HealthCheck) -> bool:
        from .timing import now

        since = getattr(instance, "sandbox_running_since", None)
        return (
            instance is not None
            and instance.state == "running"
            and since is not None
            and now() - since >= self.timings.real(self.timings.warmup)
        )


@dataclass
class TargetHealth:
    """Health of one registration, with its streaks of passed and failed checks."""

    state: str
    next_check: float
    passes: int = 0
    failures: int = 0
    failed_once: bool = False
    drain_until: float | None = None
    port: int | None = None
    history: list[str] = field(default_factory=list, repr=False)


class HealthTracker:
    """Health of every registration, updated by ``sync`` on each control-loop tick."""

    def __init__(self, timings: Timings, probe: Probe | None = None) -> None:
        self.timings = timings
        self.probe: Probe = probe or WarmupProbe(timings)
        self.states: dict[Registration, TargetHealth] = {}

    def clear(self) -> None:
        self.states.clear()

    def sync(self, now: float) -> None:
        """Pick up new registrations, start draining removed ones, run the checks that are due."""
        current: dict[Registration, tuple[HealthCheck, Any, int | None]] = {}
        for region, elb in regional("elb"):
            ec2 = backend("ec2", region)
            for balancer in list(elb.load_balancers.values()):
                check = HealthCheck.classic(getattr(balancer, "health_check", None))
                for instance_id in list(balancer.instance_ids):
                    current[Registration(CLASSIC, balancer.name, instance_id, region)] = (check, ec2, None)
        for region, elbv2 in regional("elbv2"):
            ec2 = backend("ec2", region)
            for group in list(elbv2.target_groups.values()):
                check = HealthCheck.target_group(group)
                for target_id, target in list(group.targets.items()):
                    current[Registration(TARGET_GROUP, group.arn, target_id, region)] = (check, ec2, target.get("Port"))
        for registration, (check, ec2, port) in current.items():
            health = self.states.get(registration)
            if health is None or health.state == "draining":
                initial = "OutOfService" if registration.kind == CLASSIC else "initial"
                health = TargetHealth(initial, now + self.timings.real(check.interval), port=port)
                self.states[registration] = health
            if now >= health.next_check:
                instance = _instance(ec2, registration.instance_id)
                self._record(registration, health, self.probe.passes(registration, instance, check), check)
                health.next_check = now + self.timings.real(check.interval)
        for registration in [r for r in self.states if r not in current]:
            health = self.states[registration]
            if registration.kind == TARGET_GROUP and health.state != "draining":
                health.state = "draining"
                health.drain_until = now + self.timings.real(_deregistration_delay(registration))
            elif health.drain_until is None or now >= health.drain_until:
                del self.states[registration]

    def _record(self, registration: Registration, health: TargetHealth, passed: bool, check: HealthCheck) -> None:
        healthy, unhealthy = ("InService", "OutOfService") if registration.kind == CLASSIC else ("healthy", "unhealthy")
        if passed:
            health.passes, health.failures = health.passes + 1, 0
            if health.state != healthy and health.passes >= check.healthy_threshold:
                health.state = healthy
        else:
            health.passes, health.failures = 0, health.failures + 1
            if health.failures >= check.unhealthy_threshold and health.state != unhealthy:
                health.state = unhealthy
                health.failed_once = True

    # --- what the APIs report ------------------------------------------------------------
    def classic_state(self, region: str, balancer: str, instance_id: str) -> dict:
        health = self.states.get(Registration(CLASSIC, balancer, instance_id, region))
        if health is None or health.state != "InService":
            reason = "failed" if health is not None and health.failed_once else "registering"
            code, description = CLASSIC_REASONS[reason]
            return {"InstanceId": instance_id, "State": "OutOfService", "ReasonCode": code, "Description": description}
        code, description = CLASSIC_REASONS["InService"]
        return {"InstanceId": instance_id, "State": "InService", "ReasonCode": code, "Description": description}

    def target_state(self, region: str, group_arn: str, instance_id: str, registered: bool) -> tuple[str, str | None, str | None]:
        """State, reason code and description; a registration not checked yet is ``initial``."""
        health = self.states.get(Registration(TARGET_GROUP, group_arn, instance_id, region))
        state = health.state if health is not None else "initial" if registered else "unused"
        reason, description = TARGET_REASONS.get(state, (None, None))
        return state, reason, description

    def draining_targets(self, region: str, group_arn: str) -> list[tuple[str, int | None]]:
        return [
            (r.instance_id, h.port)
            for r, h in self.states.items()
            if r.kind == TARGET_GROUP and r.region == region and r.balancer == group_arn and h.state == "draining"
        ]

    def is_healthy(self, region: str, kind: str, balancer: str, instance_id: str) -> bool | None:
        """True/False for a registered instance, None if not registered (or still draining)."""
        health = self.states.get(Registration(kind, balancer, instance_id, region))
        if health is None or health.state == "draining":
            return None
        if kind == CLASSIC:
            return health.state == "InService"
        return health.state == "healthy" if health.state != "initial" else None


def _instance(ec2: Any, instance_id: str) -> Any:
    for reservation in ec2.reservations.values():
        for instance in reservation.instances:
            if instance.id == instance_id:
                return instance
    return None


def _deregistration_delay(registration: Registration) -> float:
    elbv2 = backend("elbv2", registration.region)
    group = elbv2.target_groups.get(registration.balancer)
    if group is None:
        return 0.0
    return float(group.attributes.get("deregistration_delay.timeout_seconds", 300))
