"""Termination policies as pure data: which instance a scale-in removes.

https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-termination-policies.html
"""

from __future__ import annotations

import pytest
from fabulaws.sandbox.termination import Candidate, Current, choose_victims

NOW = 10 * 3600.0


def c(instance_id, zone="a", launched=0.0, lc=None, lc_created=0.0, lt=None, version=None, protected=False):
    return Candidate(instance_id, zone, launched, lc, lc_created, lt, version, protected)


@pytest.mark.parametrize(
    ("members", "policies", "current", "expected"),
    [
        # AZ balance comes first whatever the policy: zone b has more instances.
        ([c("i-1", "a", 1), c("i-2", "b", 2), c("i-3", "b", 3)], ["OldestInstance"], Current(), ["i-2"]),
        ([c("i-1", launched=1), c("i-2", launched=2), c("i-3", launched=3)], ["OldestInstance"], Current(), ["i-1"]),
        ([c("i-1", launched=1), c("i-2", launched=2), c("i-3", launched=3)], ["NewestInstance"], Current(), ["i-3"]),
        (
            [c("i-1", lc="b", lc_created=5), c("i-2", lc="a", lc_created=1), c("i-3", lc="c", lc_created=9)],
            ["OldestLaunchConfiguration"],
            Current(launch_config="c"),
            ["i-2"],
        ),
        # OldestLaunchTemplate: a noncurrent template first, then the oldest version of the current one.
        (
            [c("i-1", lt="lt-cur", version=1), c("i-2", lt="lt-old", version=7), c("i-3", lt="lt-cur", version=2)],
            ["OldestLaunchTemplate"],
            Current(template_id="lt-cur", template_version=2),
            ["i-2"],
        ),
        (
            [c("i-1", lt="lt", version=3), c("i-2", lt="lt", version=1), c("i-3", lt="lt", version=2)],
            ["OldestLaunchTemplate"],
            Current(template_id="lt", template_version=3),
            ["i-2"],
        ),
        # ClosestToNextInstanceHour: 50 minutes into its hour beats 10 minutes.
        ([c("i-1", launched=NOW - 600), c("i-2", launched=NOW - 3000)], ["ClosestToNextInstanceHour"], Current(), ["i-2"]),
        # Default: old configuration first (launch configurations before templates), then the billing hour.
        (
            [c("i-1", lt="lt", version=2), c("i-2", lc="lc-old", lc_created=1), c("i-3", lt="lt", version=1)],
            ["Default"],
            Current(template_id="lt", template_version=2),
            ["i-2"],
        ),
        (
            [c("i-1", lt="lt", version=2, launched=NOW - 100), c("i-2", lt="lt", version=1, launched=NOW - 100)],
            ["Default"],
            Current(template_id="lt", template_version=2),
            ["i-2"],
        ),
        # Protected instances are never chosen; several victims are chosen one at a time.
        ([c("i-1", launched=1, protected=True), c("i-2", launched=2), c("i-3", launched=3)], ["OldestInstance"], Current(), ["i-2"]),
        (
            [c("i-1", "a", 1), c("i-2", "a", 2), c("i-3", "b", 3), c("i-4", "b", 4)],
            ["OldestInstance"],
            Current(),
            ["i-1", "i-3"],
        ),
        # Policies apply in order; ties fall through to the next one.
        (
            [c("i-1", launched=5, lc="x", lc_created=1), c("i-2", launched=5, lc="y", lc_created=0)],
            ["OldestInstance", "OldestLaunchConfiguration"],
            Current(launch_config="y"),
            ["i-2"],
        ),
    ],
    ids=[
        "zone-with-most-first",
        "oldest-instance",
        "newest-instance",
        "oldest-launch-configuration",
        "noncurrent-template-first",
        "oldest-template-version",
        "closest-to-next-hour",
        "default-launch-configuration-before-template",
        "default-old-template-version",
        "protected-skipped",
        "two-victims-keep-zones-balanced",
        "policies-in-order",
    ],
)
def test_victims(members, policies, current, expected):
    assert choose_victims(members, len(expected), policies, current, NOW) == expected


def test_nothing_to_choose_when_all_are_protected():
    assert choose_victims([c("i-1", protected=True)], 1, ["Default"], Current(), NOW) == []
