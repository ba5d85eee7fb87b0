"""What every step of an operation works with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .... import report as output
from ....aws import Aws, scaling
from ....aws.balancers import Balancer, find_balancers
from ..stack import Stack
from .journal import Journal
from .waits import Polling


@dataclass
class DeployContext:
    """An operation on one environment's web Auto Scaling group."""

    aws: Aws
    settings: Any
    deployment: str
    environment: str
    group_name: str
    steps: Any  # ServerSteps
    journal: Journal
    polling: Polling = field(default_factory=Polling)
    deadline: float = 1800.0
    report: Callable[[str], None] = field(default_factory=output.reporter)  # a Reporter, or any callable
    _balancers: list[Balancer] | None = None
    _warnings_before: int = 0  # the reporter's warnings from before this run (not listed in its summary)

    def __post_init__(self) -> None:
        if isinstance(self.report, output.Reporter):
            self._warnings_before = len(self.report.warnings)

    def reporter_warnings(self) -> list[str]:
        """Warnings printed through this run's reporter since the run began."""
        return self.report.warnings[self._warnings_before:] if isinstance(self.report, output.Reporter) else []

    def group(self) -> dict:
        """The group as it is now (one DescribeAutoScalingGroups)."""
        return scaling.find_group(self.aws.autoscaling, self.group_name)

    def balancers(self) -> list[Balancer]:
        """Every classic ELB and target group of the environment (looked up once)."""
        if self._balancers is None:
            stack = Stack(self.settings, self.deployment, self.environment, {})
            self._balancers = find_balancers(self.aws, stack.load_balancer_names, stack.target_group_names)
        return self._balancers

    def stack(self) -> Stack:
        """The environment's servers now (new web servers are found by their propagated tags)."""
        return Stack.discover(self.settings, self.deployment, self.environment, self.aws.ec2)

    def warn(self, message: str) -> None:
        """Something the operator must know although the run goes on: reported now, kept in the journal (so a
        run resumed by ``recover`` still has it) and listed again in the summary."""
        warnings = self.journal.data.setdefault("warnings", [])
        if message not in warnings:
            warnings.append(message)
            self.journal.save()
        output.warn(self.report, message)
