"""What every step of an operation run works with: the DeployContext (one run on one environment's web group)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .... import report as output
from ....aws import Aws, scaling
from ....aws.balancers import Balancer, find_balancers
from ....config import Settings
from ....errors import DeployError, UsageError
from ....waits import Polling
from ..environment import Environment
from ..stack import Stack
from .journal import Journal
from .lease import Lease

OVERALL_DEADLINE = 10800  # seconds a whole operation may take (3 hours; each wait has its own, ``deadline``)


class OperationTimedOut(DeployError, TimeoutError):
    """The whole operation passed its overall deadline."""


@dataclass
class DeployContext:
    """An operation on one environment's web Auto Scaling group."""

    aws: Aws
    settings: Settings
    deployment: str
    environment: str
    group_name: str
    steps: Any  # ServerSteps (typed so, deploy/full.py's worker step would need journal.changeset's None handled)
    journal: Journal
    polling: Polling = field(default_factory=Polling)
    deadline: float = 1800.0
    report: Callable[[str], None] = field(default_factory=output.reporter)  # a Reporter, or any callable
    overall: float = OVERALL_DEADLINE  # seconds the whole operation may take
    lease: Lease | None = None  # held while the operation runs (execute, recover)
    _balancers: list[Balancer] | None = None
    _env: Environment | None = None
    _warnings_before: int = 0  # the reporter's warnings from before this run (not listed in its summary)
    _began: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if isinstance(self.report, output.Reporter):
            self._warnings_before = len(self.report.warnings)
        if not self.polling.delay > 0:  # a zero delay polls AWS in a tight loop
            raise UsageError(f"poll={self.polling.delay:g}: expected a positive number of seconds")
        if not self.overall > 0:
            raise UsageError(f"deadline={self.overall:g}: expected a positive number of seconds")

    def remaining(self) -> float:
        """Seconds left of the overall deadline; OperationTimedOut once it passed."""
        left = self.overall - (time.monotonic() - self._began)
        if left <= 0:
            raise OperationTimedOut(f"the operation passed its overall deadline of {self.overall:.0f} s")
        return left

    def wait_deadline(self) -> float:
        """A wait's deadline: the per-wait one, cut to what is left of the overall one."""
        return min(self.deadline, self.remaining())

    def point_of_no_return(self) -> None:
        """Declared (journal written) right before the first migration: from here a failure never puts old code
        back; the run finishes, or stops in a state ``recover`` finishes."""
        if not self.journal.no_return:
            self.journal.no_return = True
            self.journal.save()
            self.report("point of no return: the database is migrated next; from here the run finishes "
                        "(a failure stops it for `recover` to finish, never rolls it back)")

    def record_workers(self, changesets: dict[str, str]) -> None:
        """The workers' changesets before this run changes them (a rollback before the point of no return puts
        them back)."""
        for instance_id, changeset in changesets.items():
            self.journal.workers.setdefault(instance_id, changeset)
        self.journal.save()

    def reporter_warnings(self) -> list[str]:
        """Warnings printed through this run's reporter since the run began."""
        return self.report.warnings[self._warnings_before:] if isinstance(self.report, output.Reporter) else []

    def group(self) -> dict:
        """The group as it is now (one DescribeAutoScalingGroups)."""
        return scaling.find_group(self.aws.autoscaling, self.group_name)

    @property
    def env(self) -> Environment:
        """The environment's configured names (the task's own value when it passed one, else built once)."""
        if self._env is None:
            self._env = Environment(self.settings, self.deployment, self.environment)
        return self._env

    def balancers(self) -> list[Balancer]:
        """Every classic ELB and target group of the environment (looked up once)."""
        if self._balancers is None:
            self._balancers = find_balancers(self.aws, self.env.load_balancer_names, self.env.target_group_names)
        return self._balancers

    def stack(self) -> Stack:
        """The environment's servers now (new web servers are found by their propagated tags)."""
        return Stack.discover(self.env, self.aws.ec2)

    def warn(self, message: str) -> None:
        """Something the operator must know although the run goes on: reported now, kept in the journal (so a
        run resumed by ``recover`` still has it) and listed again in the summary."""
        if message not in self.journal.warnings:
            self.journal.warnings.append(message)
            self.journal.save()
        output.warn(self.report, message)
