"""Shared pieces of the deploy engine tests: a seeded project on the sandbox and server steps that record."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from conftest import EXAMPLE, wait_until
from fabulaws.aws import Aws
from fabulaws.aws import scaling
from fabulaws.config import load_settings
from fabulaws.library.wsgiautoscale.deploy.context import DeployContext
from fabulaws.library.wsgiautoscale.deploy.journal import Journal
from fabulaws.library.wsgiautoscale.deploy.waits import Polling
from fabulaws.sandbox.seed import seed

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

    def bake_image(self, ctx):
        """Like the real one: a temporary server and key pair, tracked in the journal, then an image."""
        key = f"bake-{ctx.journal.id}"
        ctx.aws.ec2.create_key_pair(KeyName=key)
        ctx.journal.track("key-pair", key)
        server = ctx.aws.ec2.run_instances(
            ImageId="ami-785db401", MinCount=1, MaxCount=1, KeyName=key,
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "fabulaws:temporary", "Value": ctx.journal.id}]}],
        )["Instances"][0]["InstanceId"]
        ctx.journal.track("instance", server)
        self._record("bake_image", server=server)
        return NEW_IMAGE, "abc123"

    def servers_ready(self, ctx, instance_ids):
        self._record("servers_ready", instances=sorted(instance_ids))

    def begin_upgrade(self, ctx, servers):
        self._record("begin_upgrade", servers=sorted(s.instance_id for s in servers))

    def end_upgrade(self, ctx, servers):
        self._record("end_upgrade", servers=sorted(s.instance_id for s in servers))

    def deploy_worker(self, ctx, changeset):
        self._record("deploy_worker", changeset=changeset)


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
