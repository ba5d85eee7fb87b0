"""Run an operation's steps under the environment's lease and journal; on failure put back what each step did.

A step is skipped when the journal says it is done, so ``recover`` resumes a killed run where it stopped.
Each step owns its undo; a rollback calls the undo of every step begun, last first, then deletes what the run
created. The point of no return (``DeployContext.point_of_no_return``, declared right before the first
migration) decides both in-process and in ``recover``: before it a failure rolls back, after it the run is
finished (by ``recover``), never rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ....aws import scaling
from ....aws.statestore import StateStore
from ....errors import DeployError, RolledBack
from .fleet import ids, members
from .journal import LOCK_TAG, GroupState, Journal, old_lock_tag, recorded
from .lease import GroupLocked, Lease, LeaseLost, read_holder
from .resources import release
from .run import DeployContext
from .state import original, restore
from .summary import Summary, report_summary


@dataclass(frozen=True)
class Step:
    """One named step; ``undo`` puts back what ``run`` changed (called on rollback if the step began)."""

    name: str
    run: Callable[[DeployContext], None]
    undo: Callable[[DeployContext], None] | None = None


@dataclass(frozen=True)
class Operation:
    name: str
    steps: tuple[Step, ...]


def _capture(ctx: DeployContext) -> None:
    """What the group looked like before anything changed."""
    if ctx.journal.original is None:
        group = ctx.group()
        ctx.journal.original = GroupState.capture(group)
        ctx.journal.before = ids(members(group))  # the summary's "old -> new"
        ctx.journal.save()


def _restore_group(ctx: DeployContext) -> None:
    if ctx.journal.original is not None:
        restore(ctx, original(ctx), ctx.journal.launch)


CAPTURE = Step("capture", _capture, undo=_restore_group)  # the first step of every operation


def run_steps(operation: Operation, ctx: DeployContext) -> None:
    for step in operation.steps:
        if ctx.journal.is_done(step.name):
            continue
        if ctx.lease is not None:
            ctx.lease.check()  # a safe point: nothing of this step has begun
        ctx.remaining()
        ctx.journal.current = step.name
        ctx.journal.save()
        ctx.report(f"== {operation.name}: {step.name}")
        step.run(ctx)
        ctx.journal.done(step.name)


# --- the lock -------------------------------------------------------------------------------------
def state_store(ctx: DeployContext) -> StateStore:
    return StateStore.for_environment(ctx.aws, ctx.deployment, ctx.environment, ctx.report)


def recover_hint(ctx: DeployContext) -> str:
    return f"; if that run died, `fabulaws recover:{ctx.deployment},{ctx.environment}` finishes or rolls it back"


def refuse_old_tag(ctx: DeployContext) -> None:
    value = old_lock_tag(ctx.group())
    if value:
        raise GroupLocked(f"{ctx.group_name} still carries the {LOCK_TAG} tag of an earlier version ({value}); "
                          f"`fabulaws recover:{ctx.deployment},{ctx.environment}` removes it")


def hold(ctx: DeployContext) -> None:
    """Take the lease and keep the journal in the state bucket; GroupLocked (nothing changed) if either is taken."""
    refuse_old_tag(ctx)
    store = state_store(ctx)
    ctx.lease = Lease.acquire(store, ctx.journal.id, ctx.journal.operation, recover_hint(ctx))
    try:
        existing = Journal.load(store)
        if existing is not None:
            raise GroupLocked(f"an earlier {existing.describe()} did not finish; run "
                              f"`fabulaws recover:{ctx.deployment},{ctx.environment}` first")
        ctx.journal.attach(store)
    except BaseException:
        ctx.lease.release()
        ctx.lease = None
        raise
    ctx.lease.start_renewing()


def let_go(ctx: DeployContext) -> None:
    """Release the lease (the journal, if still there, stays for ``recover``)."""
    if ctx.lease is not None:
        ctx.lease.release()
        ctx.lease = None


# --- running -------------------------------------------------------------------------------------
def execute(operation: Operation, ctx: DeployContext, rollback: bool = True) -> Summary:
    """Lock, run every step, unlock. On any error or Ctrl-C: before the point of no return roll back (unless
    ``rollback`` is false), after it stop for ``recover`` to finish. Ends with a summary, also when it fails."""
    hold(ctx)
    try:
        run_steps(operation, ctx)
    except BaseException as exc:
        step = ctx.journal.current
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        hint = f"`fabulaws recover:{ctx.deployment},{ctx.environment}`"
        if isinstance(exc, LeaseLost):  # somebody else holds it now: touch nothing (let_go keeps their lock)
            let_go(ctx)
            raise DeployError(f"{operation.name} stopped at step {step}: {reason}") from exc
        if ctx.journal.no_return:
            let_go(ctx)
            report_summary(ctx, "stopped", step, reason)
            raise DeployError(
                f"{operation.name} failed at step {step} after the point of no return (the database was migrated): "
                f"{reason}; nothing was rolled back (old code must not run on the migrated schema); {hint} finishes it"
            ) from exc
        if not rollback:
            let_go(ctx)
            report_summary(ctx, "stopped", step, reason)
            raise DeployError(
                f"{operation.name} stopped at step {step}: {reason}; nothing was rolled back (rollback=no); "
                f"{hint} finishes or rolls it back"
            ) from exc
        ctx.report(f"{operation.name} stopped at step {step} ({reason}); rolling back")
        roll_back(operation, ctx)
        report_summary(ctx, "rolled back", step, reason)
        raise RolledBack(f"{operation.name} failed at step {step}: {reason}; the group was restored as it was") from exc
    finish(ctx)
    return report_summary(ctx, "completed")


def finish(ctx: DeployContext) -> None:
    """The run is complete: its temporary resources go, the journal goes, the lease is released."""
    try:
        release(ctx.aws, ctx.journal, ctx.report, rolled_back=False)
        ctx.journal.remove()
    finally:
        let_go(ctx)


def roll_back(operation: Operation, ctx: DeployContext) -> None:
    """Undo every step begun (last first), delete what the run created, remove the journal, unlock.

    An undo that fails with a DeployError (a server that does not answer) is a warning naming what is left to
    do; the group's own restore comes last and must succeed (else the journal stays for ``recover``).
    """
    try:
        begun = set(ctx.journal.steps_done) | {ctx.journal.current}
        for step in reversed(operation.steps):
            if step.undo is not None and step.name in begun:
                try:
                    step.undo(ctx)
                except DeployError as exc:
                    if step is CAPTURE:
                        raise
                    ctx.warn(f"undoing {step.name}: {exc}")
        release(ctx.aws, ctx.journal, ctx.report, rolled_back=True)
        ctx.journal.remove()
    finally:
        let_go(ctx)


def recover(ctx: DeployContext, operations: dict[str, Operation], action: str = "auto") -> str:
    """After a hard kill (``ctx.journal`` loaded from the state bucket): take over the lease (refused while the
    run's own is live), then finish (past the point of no return, or ``action=finish``) or roll back."""
    journal = ctx.journal
    if journal.operation not in operations:
        raise DeployError(f"the journal {journal.where} is for {journal.operation}, which recover does not know")
    operation = operations[journal.operation]
    store = recorded(journal.store, "state store")
    ctx.lease = Lease.take_over(store, journal.id, f"recover of {journal.operation}")
    try:
        fresh = Journal.load(store)  # as it is now that nobody else may write it
        if fresh is None:
            let_go(ctx)
            return "already done"
        ctx.journal = journal = fresh
        journal.save()  # fences off the run we took over: its next write fails
        ctx.lease.start_renewing()
        if action == "auto":
            action = "finish" if journal.no_return else "rollback"
        if action == "finish":
            ctx.report(f"finishing {journal.describe()} from step {journal.current}")
            run_steps(operation, ctx)
            finish(ctx)
            report_summary(ctx, "finished by recover")
            return "finished"
        if journal.no_return:
            ctx.warn("rolling back past the point of no return (action=rollback): the database was migrated; "
                     "the old code runs on the new schema")
        ctx.report(f"rolling back {journal.describe()}")
        roll_back(operation, ctx)
        report_summary(ctx, "rolled back by recover")
        return "rolled back"
    except BaseException:
        let_go(ctx)
        raise


def recover_environment(ctx: DeployContext, operations: dict[str, Operation], action: str = "auto") -> str:
    """``recover`` from any working directory: the journal in the state bucket, else only the lock to clear.

    ``ctx.journal`` is a placeholder replaced by the stored one. Returns what was done, for the operator.
    """
    store = state_store(ctx)
    tag = old_lock_tag(ctx.group())
    if tag:
        scaling.delete_tag(ctx.aws.autoscaling, ctx.group_name, LOCK_TAG)
        ctx.report(f"Removed the {LOCK_TAG} tag of an earlier version from {ctx.group_name} ({tag}).")
    journal = Journal.load(store)
    if journal is None:
        holder = read_holder(store)
        if holder is None:
            return f"Nothing to recover: no journal in {store.where(store.journal_key)} and no lock."
        lease = Lease.take_over(store, holder.run, "recover")  # refuses a live one
        lease.release()
        return f"Removed the lock of {holder.describe()} (it had no journal: nothing had changed)."
    ctx.journal = journal
    outcome = recover(ctx, operations, action)
    return f"Recovered: {journal.operation} {outcome}."
