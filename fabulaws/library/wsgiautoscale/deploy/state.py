"""What an operation may change on a group, captured before the first change and restored on the way back."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ....aws import scaling
from ....aws.launch import Launch, runs
from .context import DeployContext
from .fleet import ids, members, terminate


@dataclass(frozen=True)
class GroupState:
    min_size: int
    max_size: int
    desired: int
    termination_policies: list[str]
    suspended: list[str]
    launch: dict

    @classmethod
    def capture(cls, group: dict) -> "GroupState":
        return cls(
            group["MinSize"],
            group["MaxSize"],
            group["DesiredCapacity"],
            list(group.get("TerminationPolicies", ["Default"])),
            scaling.suspended_processes(group),
            Launch.of(group).to_dict(),
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "GroupState":
        return cls(**data)


def original(ctx: DeployContext) -> GroupState:
    return GroupState.from_dict(ctx.journal.data["original"])


def set_processes(ctx: DeployContext, wanted_suspended: list[str]) -> None:
    """Make exactly ``wanted_suspended`` suspended."""
    now = scaling.suspended_processes(ctx.group())
    resume = [p for p in now if p not in wanted_suspended]
    suspend = [p for p in wanted_suspended if p not in now]
    if resume:
        scaling.resume_processes(ctx.aws.autoscaling, ctx.group_name, resume)
    if suspend:
        scaling.suspend_processes(ctx.aws.autoscaling, ctx.group_name, suspend)


def restore(ctx: DeployContext, state: GroupState, new_launch: Launch | None) -> None:
    """Put the group back: its launch, its capacity (surplus instances of ``new_launch`` go first),
    its termination policies and exactly the processes that were suspended."""
    launch = Launch.from_dict(state.launch)
    group = ctx.group()
    if Launch.of(group) != launch and (launch.configuration or launch.template_id):
        ctx.report(f"restoring {launch}")
        scaling.update_group(ctx.aws.autoscaling, ctx.group_name, **launch.group_arguments())
    scaling.update_group(ctx.aws.autoscaling, ctx.group_name, MinSize=min(state.min_size, group["DesiredCapacity"]))
    current = members(ctx.group())
    surplus = len(current) - state.desired
    if surplus > 0:
        newest_first = sorted(current, key=lambda i: not (new_launch and runs(i, new_launch)))
        terminate(ctx, ids(newest_first)[:surplus], decrement=True)
    ctx.report(f"restoring min {state.min_size}, max {state.max_size}, desired {state.desired}")
    scaling.update_group(
        ctx.aws.autoscaling,
        ctx.group_name,
        MinSize=state.min_size,
        MaxSize=state.max_size,
        DesiredCapacity=state.desired,
        TerminationPolicies=state.termination_policies,
    )
    set_processes(ctx, state.suspended)

