"""Load balancer health checks: intervals, thresholds and a pluggable probe.

Every registration of an instance in a classic ELB or an ELBv2 target group has
a health state driven by its load balancer's health check, as AWS documents:
a new registration is OutOfService (classic) or ``initial`` (ELBv2) until it
passes HealthyThreshold consecutive checks, one every Interval seconds, and goes
OutOfService/``unhealthy`` after UnhealthyThreshold consecutive failures. A
deregistered target is ``draining`` for the group's deregistration delay.

Who judges is a pluggable checker: by default thresholds over a warm-up probe
(the instance has been running long enough); with real hosts, haproxy itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .backends import backend, regional
from .timing import Timings, now

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
    def classic(cls, check: Any) -> HealthCheck:
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
    def target_group(cls, group: Any) -> HealthCheck:
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


class Checker(Protocol):
    """Decides the health of registrations: by thresholds over a probe, or by asking haproxy."""

    def begin(self, now: float) -> None:
        """Once per tick, before ``observe`` (e.g. to read a load balancer's state once)."""

    def added(self, registration: Registration, check: HealthCheck, instance: Any, port: int | None) -> None:
        """A new registration (or one back from draining)."""

    def removed(self, registration: Registration) -> None:
        """A registration that is gone (or starts draining)."""

    def observe(self, registration: Registration, health: TargetHealth, check: HealthCheck, instance: Any, now: float) -> None:
        """Update ``health`` for this tick."""


class Probe(Protocol):
    """Decides whether one health check of ``registration`` passes right now."""

    def passes(self, registration: Registration, instance: Any, check: HealthCheck) -> bool: ...


class WarmupProbe:
    """Passes once the instance has been running for ``timings.warmup`` AWS seconds."""

    def __init__(self, timings: Timings) -> None:
        self.timings = timings

    def passes(self, registration: Registration, instance: Any, check: HealthCheck) -> bool:
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


def healthy_and_unhealthy(registration: Registration) -> tuple[str, str]:
    return ("InService", "OutOfService") if registration.kind == CLASSIC else ("healthy", "unhealthy")


class ThresholdChecker:
    """Runs ``probe`` every Interval and applies HealthyThreshold / UnhealthyThreshold, as the load balancer would."""

    def __init__(self, timings: Timings, probe: Probe) -> None:
        self.timings = timings
        self.probe = probe

    def begin(self, now: float) -> None:
        pass

    def added(self, registration: Registration, check: HealthCheck, instance: Any, port: int | None) -> None:
        pass

    def removed(self, registration: Registration) -> None:
        pass

    def observe(self, registration: Registration, health: TargetHealth, check: HealthCheck, instance: Any, now: float) -> None:
        if now < health.next_check:
            return
        health.next_check = now + self.timings.real(check.interval)
        healthy, unhealthy = healthy_and_unhealthy(registration)
        if self.probe.passes(registration, instance, check):
            health.passes, health.failures = health.passes + 1, 0
            if health.state != healthy and health.passes >= check.healthy_threshold:
                health.state = healthy
        else:
            health.passes, health.failures = 0, health.failures + 1
            if health.failures >= check.unhealthy_threshold:  # also a new registration that never passed
                health.state = unhealthy
                health.failed_once = True


class HealthTracker:
    """Health of every registration, updated by ``sync`` on each control-loop tick."""

    def __init__(self, timings: Timings, checker: Checker | None = None) -> None:
        self.timings = timings
        self.checker: Checker = checker or ThresholdChecker(timings, WarmupProbe(timings))
        self.states: dict[Registration, TargetHealth] = {}

    def clear(self) -> None:
        for registration in list(self.states):
            self.checker.removed(registration)
        self.states.clear()

    def sync(self, now: float) -> None:
        """Pick up new registrations, start draining removed ones, let the checker judge the rest."""
        current: dict[Registration, tuple[HealthCheck, int | None]] = {}
        instances: dict[str, dict[str, Any]] = {}
        for region, ec2 in regional("ec2"):
            instances[region] = {i.id: i for r in ec2.reservations.values() for i in r.instances}
        for region, elb in regional("elb"):
            for balancer in list(elb.load_balancers.values()):
                check = HealthCheck.classic(getattr(balancer, "health_check", None))
                for instance_id in list(balancer.instance_ids):
                    current[Registration(CLASSIC, balancer.name, instance_id, region)] = (check, None)
        for region, elbv2 in regional("elbv2"):
            for group in list(elbv2.target_groups.values()):
                check = HealthCheck.target_group(group)
                for target_id, target in list(group.targets.items()):
                    current[Registration(TARGET_GROUP, group.arn, target_id, region)] = (check, target.get("Port"))
        self.checker.begin(now)
        for registration, (check, port) in current.items():
            health = self.states.get(registration)
            instance = instances.get(registration.region, {}).get(registration.instance_id)
            if health is None or health.state == "draining":
                initial = "OutOfService" if registration.kind == CLASSIC else "initial"
                health = TargetHealth(initial, now + self.timings.real(check.interval), port=port)
                self.states[registration] = health
                self.checker.added(registration, check, instance, port)
            self.checker.observe(registration, health, check, instance, now)
        for registration in [r for r in self.states if r not in current]:
            health = self.states[registration]
            if registration.kind == TARGET_GROUP and health.state != "draining":
                self.checker.removed(registration)
                health.state = "draining"
                health.drain_until = now + self.timings.real(_deregistration_delay(registration))
            elif health.drain_until is None or now >= health.drain_until:
                if registration.kind == CLASSIC:
                    self.checker.removed(registration)
                del self.states[registration]

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
        if kind == CLASSIC:  # OutOfService while registering is no verdict yet (as a target group's ``initial``)
            return True if health.state == "InService" else False if health.failed_once else None
        return health.state == "healthy" if health.state != "initial" else None


def _deregistration_delay(registration: Registration) -> float:
    elbv2 = backend("elbv2", registration.region)
    group = elbv2.target_groups.get(registration.balancer)
    if group is None:
        return 0.0
    return float(group.attributes.get("deregistration_delay.timeout_seconds", 300))
