"""Run an operation's steps under a lock and a journal; on failure (or Ctrl-C) put things back.

A step is skipped when the journal says it is done, so ``recover`` resumes a
killed run where it stopped. After a step marked ``commits`` (the database was
migrated), ``recover`` finishes the operation instead of rolling it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ....aws.launch import Launch
from ....errors import DeployError, RolledBack
from .context import DeployContext
from .fleet import ids, members
from .journal import Journal, lock_group, lock_of, unlock_group
from .state import GroupState, original, restore
from .summary import Summary, report_summary


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[DeployContext], None]
    commits: bool = False


@dataclass(frozen=True)
class Operation:
    name: str
    steps: tuple[Step, ...]

    def committed(self, journal: Journal) -> bool:
        return any(step.commits and journal.is_done(step.name) for step in self.steps)


def capture(ctx: DeployContext) -> None:
    """First step of every operation: what the group looked like before anything changed."""
    if ctx.journal.data["original"] is None:
        group = ctx.group()
        ctx.journal.data["original"] = GroupState.capture(group).to_dict()
        ctx.journal.data["plan"]["before"] = ids(members(group))  # the summary's "old -> new"
        ctx.journal.save()


def run_steps(operation: Operation, ctx: DeployContext) -> None:
    for step in operation.steps:
        if ctx.journal.is_done(step.name):
            continue
        ctx.journal.data["current"] = step.name
        ctx.journal.save()
        ctx.report(f"== {operation.name}: {step.name}")
        step.run(ctx)
        ctx.journal.done(step.name)


def execute(operation: Operation, ctx: DeployContext, rollback: bool = True) -> Summary:
    """Lock the group, run every step, unlock. On any error or Ctrl-C, roll back unless ``rollback`` is false.

    Ends with a summary (time, servers old -> new, launch, changeset, rollback, warnings), also when it fails.
    """
    try:
        lock_group(ctx.aws.autoscaling, ctx.journal)
    except BaseException:
        ctx.journal.remove()
        raise
    try:
        run_steps(operation, ctx)
    except BaseException as exc:
        step = ctx.journal.data.get("current")
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        if not rollback:
            report_summary(ctx, "stopped", step, reason)
            raise DeployError(
                f"{operation.name} stopped at step {step}: {reason}; nothing was rolled back (rollback=no); "
                f"`fabulaws recover:{ctx.deployment},{ctx.environment}` finishes or rolls it back"
            ) from exc
        ctx.report(f"{operation.name} stopped at step {step} ({reason}); rolling back")
        roll_back(ctx)
        report_summary(ctx, "rolled back", step, reason)
        raise RolledBack(f"{operation.name} failed at step {step}: {reason}; the group was restored as it was") from exc
    finish(ctx)
    return report_summary(ctx, "completed")


def finish(ctx: DeployContext) -> None:
    release_resources(ctx)
    unlock_group(ctx.aws.autoscaling, ctx.group_name, ctx.journal.id)
    ctx.journal.remove()


def roll_back(ctx: DeployContext) -> None:
    """End maintenance if it began, restore the group, free temporary resources, unlock."""
    if ctx.journal.plan("refresh"):
        from .serial import cancel_refresh

        cancel_refresh(ctx)
    if ctx.journal.plan("maintenance"):
        ctx.report("ending maintenance mode")
        try:
            ctx.steps.end_upgrade(ctx, ctx.stack().by_role("web"))
        except DeployError as exc:  # restoring the group matters more; the operator is told what to finish
            ctx.warn(f"{exc}; run `fabulaws {ctx.environment} end_upgrade` once those servers answer")
        ctx.journal.remember("maintenance", False)
    if ctx.journal.data["original"] is not None:
        launch = ctx.journal.plan("launch")
        restore(ctx, original(ctx), Launch.from_dict(launch) if launch else None)
    finish(ctx)


def release_resources(ctx: DeployContext) -> None:
    """Terminate temporary instances and delete temporary key pairs recorded in the journal."""
    for resource in list(ctx.journal.data["resources"]):
        if resource["kind"] == "instance":
            ctx.report(f"terminating temporary instance {resource['id']}")
            ctx.aws.ec2.terminate_instances(InstanceIds=[resource["id"]])
        elif resource["kind"] == "key-pair":
            ctx.aws.ec2.delete_key_pair(KeyName=resource["id"])
        ctx.journal.untrack(resource["kind"], resource["id"])


def recover(ctx: DeployContext, operations: dict[str, Operation], action: str = "auto") -> str:
    """After a hard kill: finish the operation (past its commit point, or ``action=finish``) or roll it back."""
    journal = ctx.journal
    if journal.data["operation"] not in operations:
        raise DeployError(f"the journal {journal.path} is for {journal.data['operation']}, which recover does not know")
    operation = operations[journal.data["operation"]]
    if action == "auto":
        action = "finish" if operation.committed(journal) else "rollback"
    if action == "finish":
        ctx.report(f"finishing {journal.describe()} from step {journal.data.get('current')}")
        run_steps(operation, ctx)
        finish(ctx)
        report_summary(ctx, "finished by recover")
        return "finished"
    ctx.report(f"rolling back {journal.describe()}")
    roll_back(ctx)
    report_summary(ctx, "rolled back by recover")
    return "rolled back"


def stale_lock(ctx: DeployContext) -> dict | None:
    """The group's lock when there is no journal here for it (the run happened elsewhere)."""
    return lock_of(ctx.group())
