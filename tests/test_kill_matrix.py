"""Kill matrix: SIGKILL deploys at seeded random instants inside their steps, `recover`, then count the account.

Each case seeds the sandbox (or keeps the state the last case rolled back to, equal to a fresh seed's by census),
takes a census, runs one operation through the command line (kill_driver.py) and kills it at its N-th event (an
AWS call about to be sent or just answered, a state write, a server step), N drawn from the case's seed over the
events of an uninterrupted run of the same operation. Once the dead run's lease has expired, `recover` runs
through the command line from a second copy of the project (no .fabulaws/: standing for a second machine). The
census afterwards must equal the one before (rolled back) or an uninterrupted run's (completed). Server steps are
recording fakes (deploy_support.RecordingSteps); the size and pass rate end the pytest output.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from fabulaws.aws import Aws, scaling
from fabulaws.config import load_settings
from fabulaws.sandbox.seed import seed

import census
from conftest import EXAMPLE, _sandbox_call, aws_test_env

DRIVER = Path(__file__).with_name("kill_driver.py")
REPOSITORY = Path(__file__).parents[1]  # the driver runs this tree's fabulaws, as the test does
GROUP = "myproject-testing-ag"
SCALE = 600.0  # a 60 s boot takes 0.1 s
POLL = "poll=0.05,timeout=120"
# name -> (launch the project is seeded with, command line)
OPERATIONS = {
    "deploy_full": ("template", f"deploy_full:myproject,testing,{POLL}"),
    "deploy_serial": ("template", f"deploy_serial:myproject,testing,engine=serial,{POLL}"),
    "deploy_serial_refresh": ("template", f"deploy_serial:myproject,testing,engine=instance-refresh,{POLL}"),
    "create_launch_config": ("configuration", f"create_launch_config_for_deployment:myproject,testing,{POLL}"),
}
SEEDS = sorted(range(56), key=lambda seed: seed % 4)  # 14 instants per operation, one operation after the other
RECOVER = f"recover:myproject,testing,{POLL}"
LEASE = 1.0  # seconds: a killed run's lease expires this long after its last renewal; recover waits for that


def only_testing(text: str) -> str:
    """The example config with only its testing environment: seeding one environment, not three, per case."""
    def drop(node):
        if isinstance(node, dict):
            return {k: drop(v) for k, v in node.items() if k not in ("staging", "production")}
        return node

    data = drop(yaml.safe_load(text))
    data.update(environments=["testing"], production_environments=[])
    return yaml.safe_dump(data, sort_keys=False)


CONFIG = only_testing((EXAMPLE / "fabulaws-config.yml").read_text())


def operation_of(seed: int) -> str:
    return list(OPERATIONS)[seed % len(OPERATIONS)]


@dataclass
class Run:
    returncode: int
    events: list[dict]
    output: str


class Bench:
    """One sandbox (the session's), reset and seeded for every case; the project in its own directory."""

    def __init__(self, endpoint: str, root: Path) -> None:
        self.endpoint = endpoint
        self.root = root
        self.project = root / "myproject"
        self.second = root / "second"
        self.keys = root / "tmp"  # TMPDIR of every run: private key files land here, not among other tests'
        self.account = census.Account(endpoint)
        self.env = {**os.environ, **aws_test_env(endpoint), "AWS_DEFAULT_REGION": "us-east-1", "TMPDIR": str(self.keys),
                    "PYTHONPATH": str(REPOSITORY),
                    "FABULAWS_LEASE_SECONDS": str(LEASE)}
        self.results: list[dict] = []
        self.reusable: str | None = None  # the launch kind of a state equal to a fresh seed's (a clean rollback)
        self.calibration: dict[str, dict] = {}

    def fresh(self, launch: str) -> census.Census:
        """Reset the sandbox, seed the project with two healthy web servers; the census now."""
        _sandbox_call(self.endpoint, "/_sandbox/reset", {})
        _sandbox_call(self.endpoint, "/_sandbox/timings", {"scale": SCALE, "instance_boot": 60, "image_create": 60,
                                                            "volume_create": 10, "volume_attach": 5, "warmup": 15})
        for directory in (self.project, self.second, self.keys):
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
        for directory in (self.project, self.second):
            (directory / "fabulaws-config.yml").write_text(CONFIG)
        settings = load_settings(self.project / "fabulaws-config.yml")
        previous = {k: os.environ.get(k) for k in self.env if k.startswith("AWS_")}
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("AWS_")})
        try:
            aws = Aws.from_settings(settings)
            seed(aws, settings, launch=launch)
            scaling.update_group(aws.autoscaling, GROUP, HealthCheckGracePeriod=60, MinSize=2, DesiredCapacity=2)
            aws.autoscaling.suspend_processes(AutoScalingGroupName=GROUP, ScalingProcesses=["ScheduledActions"])
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        self.settle()
        return self.census()

    def ready(self, launch: str) -> census.Census:
        """A fresh seed, or the state the last case rolled back to (equal to its fresh seed, by census)."""
        if self.reusable != launch:
            return self.fresh(launch)
        self.reusable = None
        for directory in (self.project / ".fabulaws", self.second / ".fabulaws", self.keys):
            shutil.rmtree(directory, ignore_errors=True)
        self.keys.mkdir()
        self.settle()
        return self.census()

    def settle(self) -> None:
        assert self.account.settle(30), "the sandbox's groups did not settle within 30 s"

    def census(self) -> census.Census:
        return census.take(self.account, self.project, self.keys)

    def start(self) -> None:
        """The driver's fork server (kill_driver.py --serve): imports once, forks each command."""
        self.server = subprocess.Popen([sys.executable, str(DRIVER), "--serve"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, env=self.env, text=True, cwd=self.root)
        ready = self.server.stdout.readline()
        assert ready.startswith('{"ready"'), f"the kill driver did not start: {ready!r}"

    def stop(self) -> None:
        self.server.stdin.close()
        self.server.wait(timeout=30)

    def run(self, command: str, kill_at: int, directory: Path | None = None) -> Run:
        stamp = time.monotonic_ns()
        events, output = self.root / f"events-{stamp}.jsonl", self.root / f"output-{stamp}.txt"
        request = {"cwd": str(directory or self.project), "env": self.env, "kill_at": kill_at, "events": str(events),
                   "steps": str(self.root / "steps.jsonl"), "output": str(output), "command": [command]}
        self.server.stdin.write(json.dumps(request) + "\n")
        self.server.stdin.flush()
        answer = self.server.stdout.readline()  # the driver's child has deadlines of its own (timeout=120)
        assert answer, "the kill driver's server died"
        lines = [json.loads(line) for line in events.read_text().splitlines()] if events.exists() else []
        text = output.read_text() if output.exists() else ""
        events.unlink(missing_ok=True)
        output.unlink(missing_ok=True)
        return Run(json.loads(answer)["returncode"], lines, text)

    def calibrate(self, operation: str) -> dict:
        """An uninterrupted run: how many events it has, and the census it ends with."""
        if operation not in self.calibration:
            launch, command = OPERATIONS[operation]
            self.reusable = None
            before = self.fresh(launch)
            run = self.run(command, 0)
            assert run.returncode == 0, run.output
            self.settle()
            self.calibration[operation] = {"events": len(run.events), "census": self.census(), "trace": run.events,
                                           "before": before}
        return self.calibration[operation]


class Summary:
    """A pytest plugin for the run's last lines: the matrix's size, pass rate and outcomes."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench

    def line(self) -> str:
        results = self.bench.results
        outcomes = Counter(r["outcome"] for r in results)
        passed = sum(1 for r in results if r["passed"])
        return (f"kill matrix: {len(results)} instants, {passed} passed ({passed * 100 // max(1, len(results))}%): "
                + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) + f"; details in {self.bench.root / 'results.json'}")

    def pytest_terminal_summary(self, terminalreporter) -> None:
        terminalreporter.write_line(self.line())


@pytest.fixture(scope="module")
def bench(sandbox_process, tmp_path_factory, request):
    bench = Bench(sandbox_process, tmp_path_factory.mktemp("kill-matrix"))
    bench.start()
    request.config.pluginmanager.register(Summary(bench), "kill-matrix-summary")
    yield bench
    bench.stop()
    (bench.root / "results.json").write_text(json.dumps(bench.results, indent=1))
    if hasattr(request.config, "workeroutput"):  # a pytest-xdist worker: the controller prints it (conftest.py)
        request.config.workeroutput["kill_matrix"] = Summary(bench).line()


def instant(seed: int, events: int) -> int:
    """The seed's event: uniform over the first 92% of an uninterrupted run's events (a run can have a few
    events fewer than the calibration's: one poll less; the last ones still lie within the margin)."""
    return 1 + int(random.Random(seed).random() * max(1, int(events * 0.92) - 1))


@pytest.mark.parametrize("seed", SEEDS, ids=[f"{operation_of(s)}-seed{s}" for s in SEEDS])
def test_kill_then_recover(bench, seed):
    operation = operation_of(seed)
    reference = bench.calibrate(operation)
    launch, command = OPERATIONS[operation]
    kill_at = instant(seed, reference["events"])
    clock = [time.monotonic()]
    before = bench.ready(launch)
    clock.append(time.monotonic())
    killed = bench.run(command, kill_at)
    clock.append(time.monotonic())
    where = next((e for e in killed.events if e.get("killed")), None)
    result = {"seed": seed, "operation": operation, "kill_at": kill_at, "where": where, "passed": False, "outcome": "?"}
    bench.results.append(result)
    assert killed.returncode == -9 and where, f"not killed at event {kill_at} of {len(killed.events)}:\n{killed.output}"
    if where and any(e["name"].startswith("s3.") for e in killed.events):
        time.sleep(max(0.0, where["killed"] + LEASE + 0.05 - time.time()))  # the dead run's lease has expired
    recovered = bench.run(RECOVER, 0, bench.second)
    assert recovered.returncode == 0, f"recover failed after a kill at {where}:\n{recovered.output}"
    clock.append(time.monotonic())
    bench.settle()
    after = bench.census()
    clock.append(time.monotonic())
    result["seconds"] = {k: round(b - a, 2) for k, a, b in zip(("seed", "kill", "recover", "census"), clock, clock[1:], strict=False)}
    rolled_back = before.diff(after, exact=True)
    completed = reference["census"].diff(after, exact=False)
    if not rolled_back:
        result["outcome"] = "rolled back"
    elif not completed:
        result["outcome"] = "completed"
    else:
        result["outcome"] = "differs"
        result["diff"] = {"from before": rolled_back, "from completed": completed}
    assert result["outcome"] != "differs", (
        f"killed at event {kill_at} ({where}); after recover the census differs from before:\n  "
        + "\n  ".join(rolled_back) + "\nand from a completed run:\n  " + "\n  ".join(completed)
        + f"\nrecover said:\n{recovered.output}"
    )
    result["passed"] = True
    bench.reusable = launch if result["outcome"] == "rolled back" else None


@pytest.mark.parametrize("operation", ["deploy_full", "deploy_serial", "deploy_serial_refresh"])
def test_a_completed_run_passes_the_host_tests_deploy_check(bench, operation):
    """census.deployed_diff (the host kill tests' check of a finished deploy) accepts an uninterrupted run and
    catches what a leak would add."""
    reference = bench.calibrate(operation)
    assert census.deployed_diff(reference["before"], reference["census"]) == []
    for section, line in (("key pairs", "bake-0123456789ab"), ("s3 objects", "s3://state/myproject/testing/lock.json"),
                          ("volumes", "vol-0123456789abcdef0 100 GiB available on=-")):
        leaky = census.Census({k: list(v) for k, v in reference["census"].sections.items()})
        leaky.add(section, line)
        assert census.deployed_diff(reference["before"], leaky) != [], section
