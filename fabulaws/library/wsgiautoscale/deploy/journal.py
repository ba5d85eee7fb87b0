"""The journal of a running operation: written before every change that must be undone.

Kept in ``.fabulaws/journal/<deployment>-<environment>.json`` (mode 0600) and
announced by a lock tag on the Auto Scaling group, so a second operator sees
who runs what since when, and ``recover`` can finish or roll back after a
hard kill.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ....aws import scaling
from ....errors import DeployError

LOCK_TAG = "fabulaws:lock"


class GroupLocked(DeployError, RuntimeError):
    """Another operation holds the group."""


def journal_directory() -> Path:
    return Path.cwd() / ".fabulaws" / "journal"


@dataclass
class Journal:
    """One operation's record: what it will restore, what it planned, which steps are done."""

    path: Path
    data: dict

    @classmethod
    def start(cls, operation: str, deployment: str, environment: str, group: str, params: dict) -> "Journal":
        path = journal_directory() / f"{deployment}-{environment}.json"
        data = {
            "id": uuid.uuid4().hex[:12],
            "operation": operation,
            "deployment": deployment,
            "environment": environment,
            "group": group,
            "who": f"{getpass.getuser()}@{socket.gethostname()}",
            "pid": os.getpid(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "started_at": time.time(),
            "params": params,
            "original": None,
            "plan": {},
            "done": [],
            "resources": [],
            "warnings": [],
        }
        journal = cls(path, data)
        journal.save()
        return journal

    @classmethod
    def load(cls, deployment: str, environment: str) -> "Journal | None":
        path = journal_directory() / f"{deployment}-{environment}.json"
        if not path.exists():
            return None
        return cls(path, json.loads(path.read_text()))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(self.data, handle, indent=2, default=str)
        temporary.replace(self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    # --- progress -------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.data["id"]

    def is_done(self, step: str) -> bool:
        return step in self.data["done"]

    def done(self, step: str) -> None:
        self.data["done"].append(step)
        self.save()

    def remember(self, key: str, value: Any) -> None:
        """Record a decision (a computed size, a launch...) so a resumed run reuses it."""
        self.data["plan"][key] = value
        self.save()

    def plan(self, key: str, default: Any = None) -> Any:
        return self.data["plan"].get(key, default)

    def track(self, kind: str, identifier: str) -> None:
        """A temporary resource (instance, key pair) that must not outlive the operation."""
        self.data["resources"].append({"kind": kind, "id": identifier})
        self.save()

    def untrack(self, kind: str, identifier: str) -> None:
        self.data["resources"] = [r for r in self.data["resources"] if r != {"kind": kind, "id": identifier}]
        self.save()

    def describe(self) -> str:
        return f"{self.data['operation']} started by {self.data['who']} at {self.data['started']} (journal {self.id})"


def lock_group(autoscaling: Any, journal: Journal) -> None:
    """Tag the group with the journal; refuse (naming who and when) if another operation holds it."""
    group_name = journal.data["group"]
    existing = scaling.group_tags(scaling.find_group(autoscaling, group_name)).get(LOCK_TAG)
    if existing:
        holder = _holder(existing)
        raise GroupLocked(
            f"{group_name} is locked by {holder}; if that run died, "
            f"`fabulaws recover:{journal.data['deployment']},{journal.data['environment']}` finishes or rolls it back"
        )
    value = json.dumps({"id": journal.id, "op": journal.data["operation"], "who": journal.data["who"], "at": journal.data["started"]})
    scaling.set_tags(autoscaling, group_name, {LOCK_TAG: value[:256]}, propagate=False)
    current = scaling.group_tags(scaling.find_group(autoscaling, group_name)).get(LOCK_TAG, "")
    if json.loads(current or "{}").get("id") != journal.id:  # another operator tagged it at the same moment
        raise GroupLocked(f"{group_name} was locked by {_holder(current)} at the same time; try again later")


def unlock_group(autoscaling: Any, group_name: str, journal_id: str | None = None) -> None:
    """Remove the lock tag (only ours, when ``journal_id`` is given)."""
    current = scaling.group_tags(scaling.find_group(autoscaling, group_name)).get(LOCK_TAG)
    if current and (journal_id is None or json.loads(current).get("id") == journal_id):
        scaling.delete_tag(autoscaling, group_name, LOCK_TAG)


def lock_of(group: dict) -> dict | None:
    value = scaling.group_tags(group).get(LOCK_TAG)
    return json.loads(value) if value else None


def _holder(value: str) -> str:
    try:
        lock = json.loads(value)
    except ValueError:
        return "an unknown operation"
    return f"{lock.get('op')} started by {lock.get('who')} at {lock.get('at')} (journal {lock.get('id')})"
