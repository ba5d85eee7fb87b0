"""Shared pieces of the deploy engine tests: a seeded project on the sandbox and server steps that record.

How to drive an operation (what tests/deploy_driver.py and the kill matrices use):

- start one: ``execute(operation, project.context(operation, steps, **params))`` (``operation`` from
  ``tasks.operations.OPERATIONS``: deploy_full, deploy_serial, deploy_serial_refresh, create_launch_config);
  the lock and journal live in the state bucket, so the working directory does not matter;
- recover one (from any directory or process): ``recover_environment(project.context(...), OPERATIONS, action)``
  (``action``: auto, finish or rollback; the stored journal replaces the context's), or ``recover_here`` below;
- a killed run's lease must expire first: set ``FABULAWS_LEASE_SECONDS`` (e.g. 2) in the killed process.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from fabulaws.aws import Aws, scaling
from fabulaws.aws.statestore import StateStore
from fabulaws.config import load_settings
from fabulaws.library.wsgiautoscale.deploy.journal import Journal
from fabulaws.library.wsgiautoscale.deploy.lease import Holder
from fabulaws.library.wsgiautoscale.deploy.operation import recover_environment
from fabulaws.library.wsgiautoscale.deploy.run import DeployContext
from fabulaws.sandbox.seed import seed
from fabulaws.waits import Polling

from conftest import EXAMPLE, wait_until

NEW_IMAGE = "ami-1e749f67"
GROUP = "myproject-testing-ag"


class StepFailed(RuntimeError):
    pass


class RecordingSteps:
    """Server steps that only record their calls (one JSON line each) and can fail at a named step."""

    def __init__(self, log: Path, fail_at: str | None = None) -> None:
        self.log = log
        self.fail_at = fail_at

    def _record(self, step: str, **data) -> None:
        with open(self.log, "a") as handle:
            handle.write(json.dumps({"step": step, **data}) + "\n")
        if step == self.fail_at:
            raise StepFailed(f"{step} failed (injected)")

    def calls(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    declares_no_return = True  # deploy_worker calls ctx.point_of_no_return() right before "migrate"
    bake_real_image = False  # True: the image is created from the bake server (and recorded first)

    def bake_image(self, ctx):
        """Like the real one: a temporary server and key pair, each recorded in the journal before it is
        created (key name, client token), then an image (recorded by its name first) when ``bake_real_image``."""
        key = f"bake-{ctx.journal.id}"
        ctx.journal.track("key-pair", key)
        ctx.aws.ec2.create_key_pair(KeyName=key)
        token = f"bake-{ctx.journal.id}"
        ctx.journal.track("instance-token", token)
        server = ctx.aws.ec2.run_instances(
            ImageId="ami-785db401", MinCount=1, MaxCount=1, KeyName=key, ClientToken=token,
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "fabulaws:temporary", "Value": ctx.journal.id}]}],
        )["Instances"][0]["InstanceId"]
        self._record("bake_image", server=server)
        if not self.bake_real_image:
            return NEW_IMAGE, "abc123"
        name = f"myproject_testing_web_{ctx.journal.id}_abc123"
        ctx.journal.track("image", name, temporary=False)
        image = ctx.aws.ec2.create_image(InstanceId=server, Name=name)["ImageId"]
        return image, "abc123"

    def servers_ready(self, ctx, instance_ids):
        self._record("servers_ready", instances=sorted(instance_ids))

    def begin_upgrade(self, ctx, servers):
        self._record("begin_upgrade", servers=sorted(s.instance_id for s in servers))

    def end_upgrade(self, ctx, servers):
        self._record("end_upgrade", servers=sorted(s.instance_id for s in servers))

    def deploy_worker(self, ctx, changeset):
        """Like the real one: the workers' changesets recorded, new code, the point of no return, migrate."""
        ctx.record_workers({"i-worker0": "0ld0ld"})
        self._record("deploy_worker", changeset=changeset)
        ctx.point_of_no_return()
        self._record("migrate", changeset=changeset)

    def restore_workers(self, ctx, workers):
        self._record("restore_workers", workers=workers)


@dataclass
class Project:
    directory: Path
    aws: Aws
    settings: object

    def group(self, name: str = GROUP) -> dict:
        return scaling.find_group(self.aws.autoscaling, name)

    def context(self, operation, steps, lines: list | None = None, **params) -> DeployContext:
        journal = Journal.start(operation.name, "myproject", "testing", GROUP, params)
        report = lines.append if lines is not None else (lambda message: None)
        return DeployContext(self.aws, self.settings, "myproject", "testing", GROUP, steps, journal, Polling(0.1, 0.4), 120.0, report)

    def store(self) -> StateStore:
        return StateStore.peek(self.aws, "myproject", "testing")

    def stored_journal(self) -> Journal | None:
        """The journal in the state bucket (where every run keeps it), or None."""
        return Journal.load(self.store())

    def wait_lease_expired(self) -> None:
        """Until a killed run's lease (the lock object's ``expires``) has passed, so ``recover`` may take it over:
        as long as needed and no longer (a fixed sleep of the whole lease wasted up to its length per test)."""
        def expired() -> bool:
            found = self.store().read(self.store().lock_key)
            return found is None or Holder.from_dict(found[0]).expired

        wait_until(expired, 60, "the killed run's lease to expire", interval=0.1)


def recover_here(directory: Path, steps, action: str = "auto", lines: list | None = None) -> str:
    """``recover`` as a second machine would: its own settings and clients from ``directory``, only the state
    bucket shared. Returns recover_environment's message."""
    from fabulaws.library.wsgiautoscale.tasks.operations import OPERATIONS

    settings = load_settings(directory / "fabulaws-config.yml")
    project = Project(directory, Aws.from_settings(settings), settings)
    return recover_environment(project.context(OPERATIONS["deploy_full"], steps, lines), OPERATIONS, action)


def make_project(sandbox, directory: Path, launch: str = "template", web: int = 2) -> Project:
    """examples/myproject seeded on the sandbox, its testing group running ``web`` healthy servers."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE / "fabulaws-config.yml", directory / "fabulaws-config.yml")
    settings = load_settings(directory / "fabulaws-config.yml")
    aws = Aws.from_settings(settings)
    seed(aws, settings, launch=launch)
    sandbox.timings(warmup=15)
    scaling.update_group(aws.autoscaling, GROUP, HealthCheckGracePeriod=60)
    if web:
        scaling.update_group(aws.autoscaling, GROUP, MinSize=web, DesiredCapacity=web)
        wait_healthy_fleet(aws, web)
    return Project(directory, aws, settings)


def wait_healthy_fleet(aws: Aws, count: int) -> list[str]:
    def healthy():
        group = scaling.find_group(aws.autoscaling, GROUP)
        in_service = [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]
        states = aws.elb.describe_instance_health(LoadBalancerName="myproject-testing-lb")["InstanceStates"]
        good = {s["InstanceId"] for s in states if s["State"] == "InService"}
        return in_service if len(in_service) == count and set(in_service) <= good else None

    return wait_until(healthy, 20, f"{count} healthy web servers")
