"""The journal of a running operation: written before every change that must be undone.

A typed record (what the group looked like, the launch rolled out, the resources the run creates, the
workers' changesets before, the point of no return, the steps done) kept as one JSON object in the state
bucket (``<deployment>/<environment>/journal.json``), replaced only with If-Match on its last ETag, so
``recover`` on any machine reads the same record and a run that lost its lease cannot overwrite it.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from ....aws import scaling
from ....aws.launch import Launch
from ....aws.statestore import PreconditionFailed, StateStore
from ....errors import DeployError
from .lease import GroupLocked, LeaseLost

T = TypeVar("T")

__all__ = ["GroupLocked", "GroupState", "Journal", "LOCK_TAG", "Resource", "old_lock_tag"]

LOCK_TAG = "fabulaws:lock"  # where earlier development versions kept the lock: reported, never trusted


@dataclass(frozen=True)
class GroupState:
    """What an operation may change on a group: captured before the first change, restored on the way back."""

    min_size: int
    max_size: int
    desired: int
    termination_policies: list[str]
    suspended: list[str]
    launch: Launch

    @classmethod
    def capture(cls, group: dict) -> GroupState:
        return cls(group["MinSize"], group["MaxSize"], group["DesiredCapacity"],
                   list(group.get("TerminationPolicies", ["Default"])), scaling.suspended_processes(group),
                   Launch.of(group))

    def to_dict(self) -> dict:
        return {**asdict(self), "launch": self.launch.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> GroupState:
        return cls(**{**data, "launch": Launch.from_dict(data["launch"])})


@dataclass
class Resource:
    """Something the run creates, recorded (by a name, client token or tag chosen first) before it exists.

    ``temporary`` ones (the bake server, its key pair and key file) go at the end of every run; the others
    (image, launch template version, launch configuration) are the run's product: only a rollback deletes them.
    """

    kind: str
    id: str
    temporary: bool = True
    details: dict = field(default_factory=dict)


def recorded(value: T | None, what: str) -> T:
    """A journal field a later step reads; its step ran first (the plan's order), so None is a journal from elsewhere."""
    if value is None:
        raise DeployError(f"the journal has no {what}: the step that records it has not run")
    return value


@dataclass
class Journal:
    """One operation's record. ``store`` is where it is kept (None until the run holds the lock)."""

    id: str
    operation: str
    deployment: str
    environment: str
    group: str
    who: str
    pid: int
    started: str
    started_at: float
    params: dict
    original: GroupState | None = None
    before: list[str] = field(default_factory=list)  # the group's servers at the start (the summary's "old")
    launch: Launch | None = None
    changeset: str | None = None
    maintenance: bool = False
    minimum: int | None = None
    desired: int | None = None
    target: int | None = None
    old: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    refresh: str | None = None
    workers: dict[str, str] = field(default_factory=dict)  # instance id -> changeset before this run changed it
    no_return: bool = False
    resources: list[Resource] = field(default_factory=list)
    steps_done: list[str] = field(default_factory=list)
    current: str | None = None
    warnings: list[str] = field(default_factory=list)
    store: StateStore | None = field(default=None, repr=False, compare=False)
    etag: str | None = field(default=None, repr=False, compare=False)

    _PLAN = ("before", "changeset", "maintenance", "minimum", "desired", "target", "old", "new", "refresh")

    @classmethod
    def start(cls, operation: str, deployment: str, environment: str, group: str, params: dict) -> Journal:
        """A new record, in memory until the run holds the lock (``attach``)."""
        return cls(uuid.uuid4().hex[:12], operation, deployment, environment, group,
                   f"{getpass.getuser()}@{socket.gethostname()}", os.getpid(),
                   time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), time.time(), dict(params))

    # --- JSON -----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        plan: dict[str, Any] = {name: getattr(self, name) for name in self._PLAN}
        plan["launch"] = self.launch.to_dict() if self.launch else None
        return {
            "id": self.id, "operation": self.operation, "deployment": self.deployment,
            "environment": self.environment, "group": self.group, "who": self.who, "pid": self.pid,
            "started": self.started, "started_at": self.started_at, "params": self.params,
            "original": self.original.to_dict() if self.original else None, "plan": plan,
            "workers": self.workers, "no_return": self.no_return,
            "resources": [asdict(r) for r in self.resources], "done": self.steps_done, "current": self.current,
            "warnings": self.warnings,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Journal:
        plan = dict(data.get("plan") or {})
        launch = plan.pop("launch", None)
        journal = cls(
            data["id"], data["operation"], data["deployment"], data["environment"], data["group"], data["who"],
            int(data.get("pid") or 0), data["started"], float(data.get("started_at") or time.time()),
            dict(data.get("params") or {}),
            original=GroupState.from_dict(data["original"]) if data.get("original") else None,
            launch=Launch.from_dict(launch) if launch else None,
            workers=dict(data.get("workers") or {}), no_return=bool(data.get("no_return")),
            resources=[Resource(**r) for r in data.get("resources", [])], steps_done=list(data.get("done", [])),
            current=data.get("current"), warnings=list(data.get("warnings", [])),
        )
        for name in cls._PLAN:
            if name in plan and plan[name] is not None:
                setattr(journal, name, plan[name])
        return journal

    @property
    def data(self) -> dict:
        """The JSON form (read-only: change the fields, then ``save``)."""
        return self.to_dict()

    # --- where it is kept ----------------------------------------------------------------------
    @classmethod
    def load(cls, store: StateStore) -> Journal | None:
        """The environment's journal in the state bucket, or None."""
        found = store.read(store.journal_key)
        if found is None:
            return None
        journal = cls.from_dict(found[0])
        journal.store, journal.etag = store, found[1]
        return journal

    def attach(self, store: StateStore) -> None:
        """Keep this (new) journal in ``store``: refused if one is there already (an unfinished run)."""
        self.store, self.etag = store, None
        self.save()

    def save(self) -> None:
        """Write it (create-only the first time, then If-Match); LeaseLost if somebody else wrote it meanwhile."""
        if self.store is None:
            return
        try:
            if self.etag is None:
                self.etag = self.store.create(self.store.journal_key, self.to_dict())
            else:
                self.etag = self.store.replace(self.store.journal_key, self.to_dict(), self.etag)
        except PreconditionFailed:
            raise LeaseLost(f"the journal {self.store.where(self.store.journal_key)} was written by another run "
                            f"(recover took over?): this run stops here") from None

    def remove(self) -> None:
        if self.store is not None:
            self.store.delete(self.store.journal_key, self.etag)
            self.store = None

    @property
    def where(self) -> str:
        return self.store.where(self.store.journal_key) if self.store else "(not saved)"

    # --- progress -------------------------------------------------------------------------------
    def is_done(self, step: str) -> bool:
        return step in self.steps_done

    def done(self, step: str) -> None:
        self.steps_done.append(step)
        self.save()

    def track(self, kind: str, identifier: str, temporary: bool = True, **details: object) -> Resource:
        """Record a resource before creating it (its name, token or tag chosen first); saved at once."""
        resource = Resource(kind, identifier, temporary, dict(details))
        self.resources.append(resource)
        self.save()
        return resource

    def untrack(self, kind: str, identifier: str) -> None:
        self.resources = [r for r in self.resources if (r.kind, r.id) != (kind, identifier)]
        self.save()

    def describe(self) -> str:
        return f"{self.operation} started by {self.who} at {self.started} (journal {self.id})"


def old_lock_tag(group: dict) -> str | None:
    """The lock tag an earlier development version left on the group, if any."""
    return scaling.group_tags(group).get(LOCK_TAG)
