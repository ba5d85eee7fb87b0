"""Dry runs (``-R/--dry``, Fabric's flag): print the plan, change nothing.

Two parts: the plan a task prints (``Plan``), and a safety net under it. Once a
run is dry (``enable()``), every boto3 client the ``Aws`` object made refuses any
call that is not a read (``Describe*``, ``Get*``, ``List*``, ``Head*``): a planner
that slipped, or a task that plans nothing, fails with one line instead of
changing AWS.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import DeployError, UsageError
from .report import reporter

if TYPE_CHECKING:
    from botocore.model import OperationModel
    from invoke import Context

    from fabulaws.aws.types import Client

READ_PREFIXES = ("Describe", "Get", "List", "Head")  # Head*: S3's reads (HeadObject, HeadBucket)
NOTE = "--dry: nothing was changed"

_active = threading.Event()


class DryRunRefused(DeployError):
    """A dry run reached a call that would change AWS (the safety net caught it; nothing was sent)."""


def is_dry(c: Context) -> bool:
    """Whether the run was started with ``-R/--dry`` (invoke sets ``run.dry`` on the task's Config)."""
    config = getattr(c, "config", None)
    run = config.get("run") if config is not None and hasattr(config, "get") else None
    return bool(run.get("dry")) if run is not None and hasattr(run, "get") else False


def enable() -> None:
    """Make this process dry: from now on every guarded client refuses non-read calls."""
    _active.set()


def disable() -> None:
    """Back to normal (tests that run a dry and a real call in one process)."""
    _active.clear()


def active() -> bool:
    return _active.is_set()


def is_read(operation: str) -> bool:
    """Whether an API operation (``DescribeInstances``, ``SuspendProcesses``...) only reads."""
    return operation.startswith(READ_PREFIXES)


def _refuse_writes(model: OperationModel | None = None, **_: object) -> None:
    if model is not None and active() and not is_read(model.name):
        service = model.service_model.endpoint_prefix
        raise DryRunRefused(f"--dry: refused {service}:{model.name}, which would change AWS; nothing was changed")


def guard(client: Client) -> Client:
    """Register the safety net on ``client`` (botocore's ``before-call``, before anything is sent); returns it."""
    client.meta.events.register("before-call.*.*", _refuse_writes, unique_id="fabulaws-dry-run")
    return client


def cannot_plan(task: str) -> UsageError:
    """The one line a task without a planner answers under ``--dry``."""
    return UsageError(f"{task} cannot plan yet; run it without --dry")


@dataclass
class Plan:
    """What a task would do: a title, then ``label: text`` lines in order (steps, creations, capacity...)."""

    title: str
    lines: list[tuple[str, str]] = field(default_factory=list)

    def add(self, label: str, text: str) -> Plan:
        self.lines.append((label, text))
        return self

    def render(self) -> str:
        width = max([len(label) for label, _ in self.lines] or [0])
        body = [f"  {label.rjust(width)}: {text}" if label else f"  {'':{width}}    {text}" for label, text in self.lines]
        return "\n".join([f"Plan: {self.title} ({NOTE})", *body])

    def show(self) -> None:
        reporter().info(self.render())
