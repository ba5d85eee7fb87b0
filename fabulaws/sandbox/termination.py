"""Which instances a scale-in removes: Auto Scaling termination policies, as AWS documents them.

https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-termination-policies.html
Pure functions over plain data, so every policy is tested without a server.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

HOUR = 3600.0


@dataclass(frozen=True)
class Candidate:
    """An instance of the group, as the termination policies see it."""

    instance_id: str
    zone: str
    launched_at: float  # epoch seconds
    launch_config: str | None = None
    launch_config_created: float = 0.0  # epoch seconds
    template_id: str | None = None
    template_version: int | None = None
    protected: bool = False


@dataclass(frozen=True)
class Current:
    """The group's configuration now, to tell old instances from current ones."""

    launch_config: str | None = None
    template_id: str | None = None
    template_version: int | None = None


def choose_victims(
    members: list[Candidate], count: int, policies: list[str], current: Current, now: float
) -> list[str]:
    """Instance ids to terminate, one at a time: first the zone with most instances, then the policies."""
    remaining = list(members)
    victims: list[str] = []
    for _ in range(count):
        eligible = [c for c in remaining if not c.protected]
        if not eligible:
            break
        per_zone = Counter(c.zone for c in remaining)
        top = max(per_zone[c.zone] for c in eligible)
        in_top_zone = [c for c in eligible if per_zone[c.zone] == top]
        victim = apply_policies(in_top_zone, policies, current, now)
        victims.append(victim.instance_id)
        remaining.remove(victim)
    return victims


def apply_policies(candidates: list[Candidate], policies: list[str], current: Current, now: float) -> Candidate:
    """Narrow ``candidates`` by each policy in order, then by Default; ties go to the lowest id."""
    for policy in [*policies, "Default"]:
        candidates = POLICIES[policy](candidates, current, now)
        if len(candidates) == 1:
            return candidates[0]
    return min(candidates, key=lambda c: c.instance_id)


def _keep_min(candidates: list[Candidate], key) -> list[Candidate]:
    best = min(key(c) for c in candidates)
    return [c for c in candidates if key(c) == best]


def oldest_instance(candidates: list[Candidate], current: Current, now: float) -> list[Candidate]:
    return _keep_min(candidates, lambda c: c.launched_at)


def newest_instance(candidates: list[Candidate], current: Current, now: float) -> list[Candidate]:
    return _keep_min(candidates, lambda c: -c.launched_at)


def oldest_launch_configuration(candidates: list[Candidate], current: Current, now: float) -> list[Candidate]:
    """Instances with the oldest launch configuration (instances without one are kept out of it)."""
    with_config = [c for c in candidates if c.launch_config]
    return _keep_min(with_config, lambda c: c.launch_config_created) if with_config else candidates


def oldest_launch_template(candidates: list[Candidate], current: Current, now: float) -> list[Candidate]:
    """Instances of a noncurrent launch template first, then the oldest version of the current one."""
    with_template = [c for c in candidates if c.template_id]
    if not with_template:
        return candidates
    noncurrent = [c for c in with_template if c.template_id != current.template_id]
    if noncurrent:
        return noncurrent
    return _keep_min(with_template, lambda c: c.template_version or 0)


def closest_to_next_instance_hour(candidates: list[Candidate], current: Current, now: float) -> list[Candidate]:
    return _keep_min(candidates, lambda c: round(HOUR - ((now - c.launched_at) % HOUR), 3))


def default(candidates: list[Candidate], current: Current, now: float) -> list[Candidate]:
    """Old configurations first (launch configurations before templates, oldest first), then the billing hour."""
    old = [c for c in candidates if not _is_current(c, current)]
    if old:
        configs = [c for c in old if c.launch_config]
        candidates = oldest_launch_configuration(configs, current, now) if configs else oldest_launch_template(old, current, now)
    return closest_to_next_instance_hour(candidates, current, now)


def _is_current(candidate: Candidate, current: Current) -> bool:
    if candidate.launch_config:
        return candidate.launch_config == current.launch_config
    return (candidate.template_id, candidate.template_version) == (current.template_id, current.template_version)


POLICIES = {
    "Default": default,
    "OldestInstance": oldest_instance,
    "NewestInstance": newest_instance,
    "OldestLaunchConfiguration": oldest_launch_configuration,
    "OldestLaunchTemplate": oldest_launch_template,
    "ClosestToNextInstanceHour": closest_to_next_instance_hour,
}
