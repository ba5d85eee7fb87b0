"""The end of an operation, for the person who ran it: how long, which servers went, which came, at which launch
and changeset, whether anything was rolled back, and every warning of the run again.

Built from the journal (what the run planned and remembered) and one look at the group (what is there now),
so ``recover`` in another process can say the same about a run it finished or rolled back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ....aws.launch import Launch, find_launch_configuration, template_version
from ....report import duration
from .fleet import ids, members
from .run import DeployContext


@dataclass(frozen=True)
class Summary:
    """What an operation did, in the terms an operator checks afterwards."""

    operation: str
    deployment: str
    environment: str
    outcome: str  # completed | rolled back | stopped | finished by recover | rolled back by recover
    seconds: float
    before: list[str]  # the group's servers when the run started
    after: list[str] | None  # ... and now (None: the group could not be read)
    launch: str | None = None  # the launch the run rolled out (or tried to)
    image: str | None = None
    changeset: str | None = None
    restored_launch: str | None = None  # when rolled back: what the group uses again
    failed_step: str | None = None
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def removed(self) -> list[str]:
        return [i for i in self.before if i not in (self.after or [])]

    @property
    def added(self) -> list[str]:
        return [i for i in (self.after or []) if i not in self.before]

    def lines(self) -> list[str]:
        """The summary as the lines printed at the end of the run."""
        head = f"{self.operation} of {self.deployment} {self.environment}: {self.outcome} in {duration(self.seconds)}"
        if self.failed_step:
            head += f" (failed at step {self.failed_step}: {self.reason})"
        lines = [head]
        if self.after is None:
            lines.append(f"  web servers: {_listed(self.before)} before; the group could not be read now")
        elif self.removed or self.added:
            lines.append(f"  web servers: {_listed(self.removed)} -> {_listed(self.added)}")
        else:
            lines.append(f"  web servers: unchanged ({_listed(self.after)})")
        if self.launch:
            image = f" (image {self.image})" if self.image else ""
            lines.append(f"  launch: {self.launch}{image}")
        if self.restored_launch:
            lines.append(f"  rolled back: the group uses {self.restored_launch} again")
        elif self.outcome in ("completed", "finished by recover"):
            lines.append("  rolled back: nothing")
        elif self.outcome.startswith("rolled back"):
            lines.append("  rolled back: nothing had been changed yet")
        elif self.outcome == "stopped":
            lines.append("  rolled back: nothing (rollback=no); `fabulaws recover:...` finishes or rolls it back")
        if self.changeset:
            lines.append(f"  changeset: {self.changeset}")
        if self.warnings:
            lines.append(f"  warnings ({len(self.warnings)}):")
            lines += [f"    - {warning}" for warning in self.warnings]
        else:
            lines.append("  warnings: none")
        return lines


def _listed(instance_ids: list[str]) -> str:
    return ", ".join(instance_ids) if instance_ids else "none"


def started_at(ctx: DeployContext) -> float:
    """When the run began (epoch seconds; journals written before ``started_at`` existed give their ``started``)."""
    data = ctx.journal.data
    if "started_at" in data:
        return float(data["started_at"])
    try:
        return time.mktime(time.strptime(data["started"], "%Y-%m-%d %H:%M:%S UTC")) - time.timezone
    except (KeyError, ValueError):
        return time.time()


def image_of(ctx: DeployContext, launch: Launch) -> str | None:
    """The image ``launch`` starts servers from (None when it cannot be read: the summary goes on without it)."""
    try:
        if launch.configuration:
            return find_launch_configuration(ctx.aws.autoscaling, launch.configuration).get("ImageId")
        if launch.template_id is None or launch.version is None:
            return None
        return template_version(ctx.aws.ec2, launch.template_id, launch.version)["LaunchTemplateData"].get("ImageId")
    except Exception:  # noqa: BLE001 - the summary must not fail the run it describes
        return None


def summarize(ctx: DeployContext, outcome: str, failed_step: str | None = None, reason: str | None = None) -> Summary:
    """The summary of the run ``ctx.journal`` records, as the group is now. Never raises for what it cannot read."""
    data = ctx.journal.data
    plan = data.get("plan", {})
    try:
        after: list[str] | None = ids(members(ctx.group()))
    except Exception:  # noqa: BLE001 - the summary must not fail the run it describes
        after = None
    before = plan.get("before") or plan.get("old") or []
    launch = Launch.from_dict(plan["launch"]) if plan.get("launch") else None
    restored = None
    if outcome.startswith("rolled back") and data.get("original"):
        restored = str(Launch.from_dict(data["original"]["launch"]))
    return Summary(
        operation=data["operation"],
        deployment=data["deployment"],
        environment=data["environment"],
        outcome=outcome,
        seconds=max(0.0, time.time() - started_at(ctx)),
        before=list(before),
        after=after,
        launch=str(launch) if launch else None,
        image=image_of(ctx, launch) if launch else None,
        changeset=plan.get("changeset"),
        restored_launch=restored,
        failed_step=failed_step,
        reason=reason,
        warnings=warnings_of(ctx),
    )


def warnings_of(ctx: DeployContext) -> list[str]:
    """The run's warnings: those in the journal (``ctx.warn``), then any other its reporter printed (e.g. from a
    server step that only had the reporter)."""
    warnings = list(ctx.journal.data.get("warnings", []))
    return warnings + [w for w in ctx.reporter_warnings() if w not in warnings]


def report_summary(ctx: DeployContext, outcome: str, failed_step: str | None = None, reason: str | None = None) -> Summary:
    """Print the summary through the run's reporter; returns it."""
    summary = summarize(ctx, outcome, failed_step, reason)
    for line in summary.lines():
        ctx.report(line)
    return summary
