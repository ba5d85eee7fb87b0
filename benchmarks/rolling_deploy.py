"""Rolling replacement of N web servers on the sandbox: wall time and AWS API calls, strategies side by side.

One time scale for everything: boot 60 s, health-check interval 10 s, healthy
threshold 2, scaled 1:20 (so a batch can not finish in less than 80 AWS seconds,
4 real seconds). Every fixed sleep and poll of a strategy is given in AWS seconds
and scaled the same way, except Ansible's, which are built into the module.

Usage: python benchmarks/rolling_deploy.py [--sizes 2,4,8,16] [--strategies ...] [--scale 20]
Prints one table and writes it to benchmarks/results/rolling_deploy.txt.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fabulaws.aws import Aws, scaling  # noqa: E402
from fabulaws.aws.launch import Launch, create_template_version  # noqa: E402
from fabulaws.config import load_settings  # noqa: E402
from fabulaws.library.wsgiautoscale.deploy.run import DeployContext  # noqa: E402
from fabulaws.library.wsgiautoscale.deploy.full import DEPLOY_FULL  # noqa: E402
from fabulaws.library.wsgiautoscale.deploy.journal import Journal  # noqa: E402
from fabulaws.library.wsgiautoscale.deploy.operation import execute  # noqa: E402
from fabulaws.library.wsgiautoscale.deploy.serial import DEPLOY_SERIAL  # noqa: E402
from fabulaws.library.wsgiautoscale.deploy.steps import NoServerSteps  # noqa: E402
from fabulaws.waits import Polling  # noqa: E402
from fabulaws.sandbox.seed import seed  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
GROUP, BALANCER = "myproject-testing-ag", "myproject-testing-lb"
BOOT, INTERVAL, HEALTHY = 60.0, 10.0, 2
GRACE = 90  # HealthCheckGracePeriod: boot plus the checks to pass
NEW_IMAGE = "ami-1e749f67"
ANSIBLE = REPO / ".tools-bench" / "bin" / "ansible-playbook"


class Bench:
    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.state = Path(tempfile.mkdtemp(prefix="fabulaws-bench-"))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        env = {**os.environ, "FABULAWS_SANDBOX_DIR": str(self.state)}
        self.server = subprocess.Popen(
            [sys.executable, "-m", "fabulaws.sandbox", "serve", "--port", str(port), "--time-scale", str(scale),
             "--instance-boot", str(BOOT), "--warmup", "0", "--trace", str(self.state / "requests.log")],
            env=env, stdout=open(self.state / "sandbox.log", "wb"), stderr=subprocess.STDOUT,
        )
        while True:
            try:
                self.call("/_sandbox/health")
                break
            except OSError:
                time.sleep(0.1)
        os.environ.update(AWS_ENDPOINT_URL=self.endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                          AWS_DEFAULT_REGION="us-east-1")
        self.project = self.state / "myproject"
        self.project.mkdir()
        shutil.copy(REPO / "examples" / "myproject" / "fabulaws-config.yml", self.project)
        self.settings = load_settings(self.project / "fabulaws-config.yml")

    def call(self, path: str, payload: dict | None = None) -> dict:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(self.endpoint + path, data=data, method="POST" if data is not None else "GET")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def aws_seconds(self, real: float) -> float:
        return real * self.scale

    def real(self, aws: float) -> float:
        return aws / self.scale

    def prepare(self, size: int) -> tuple[Aws, Launch]:
        """A fresh sandbox with N healthy web servers on version 1 and a version 2 to roll out."""
        self.call("/_sandbox/reset", {})
        self.call("/_sandbox/timings", {"scale": self.scale, "instance_boot": BOOT, "warmup": 0})
        aws = Aws.from_settings(self.settings)
        seed(aws, self.settings)
        scaling.update_group(aws.autoscaling, GROUP, MinSize=size, MaxSize=2 * size + 2, DesiredCapacity=size,
                             HealthCheckGracePeriod=GRACE)
        self.wait_healthy(aws, size)
        time.sleep(self.real(GRACE))  # a fleet that has run for a while: past its grace period
        group = scaling.find_group(aws.autoscaling, GROUP)
        new = create_template_version(aws.ec2, Launch.of(group), NEW_IMAGE, "bench", {"fabulaws:changeset": "bench"})
        return aws, new

    def wait_healthy(self, aws: Aws, size: int, launch: Launch | None = None) -> None:
        while True:
            group = scaling.find_group(aws.autoscaling, GROUP)
            ids = {i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"
                   and (launch is None or i.get("LaunchTemplate", {}).get("Version") == launch.version)}
            health = aws.elb.describe_instance_health(LoadBalancerName=BALANCER)["InstanceStates"]
            healthy = {h["InstanceId"] for h in health if h["State"] == "InService"}
            if len(ids) == size and ids <= healthy and len(group["Instances"]) == size:
                return
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.terminate()
        self.server.wait(timeout=10)
        print(f"(sandbox log: {self.state / 'sandbox.log'})")


# --- strategies: each replaces every server of a fresh group with version 2 ----------------------------------
def ours(operation, batch: int = 1):
    def run(bench: Bench, aws: Aws, new: Launch, size: int) -> None:
        os.chdir(bench.project)
        journal = Journal.start(operation.name, "myproject", "testing", GROUP,
                                {"launch": new.to_dict(), "batch": batch, "num_web": size})
        polling = Polling(delay=bench.real(2), max_delay=bench.real(15))
        ctx = DeployContext(aws, bench.settings, "myproject", "testing", GROUP, NoServerSteps(), journal, polling, 3600, lambda m: None)
        execute(operation, ctx)

    return run


def instance_refresh(bench: Bench, aws: Aws, new: Launch, size: int) -> None:
    """AWS Instance Refresh with its defaults (MinHealthyPercentage 90), polled every 15 AWS s."""
    scaling.update_group(aws.autoscaling, GROUP, LaunchTemplate={"LaunchTemplateId": new.template_id, "Version": new.version})
    aws.autoscaling.start_instance_refresh(AutoScalingGroupName=GROUP, Preferences={"InstanceWarmup": int(HEALTHY * INTERVAL)})
    while aws.autoscaling.describe_instance_refreshes(AutoScalingGroupName=GROUP)["InstanceRefreshes"][0]["Status"] != "Successful":
        time.sleep(bench.real(15))


def model_1x_serial(bench: Bench, aws: Aws, new: Launch, size: int) -> None:
    """FabulAWS 1.x's _refresh_instances (reference 4.2): its fixed sleeps and polls, in AWS seconds, scaled."""
    scaling.update_group(aws.autoscaling, GROUP, LaunchTemplate={"LaunchTemplateId": new.template_id, "Version": new.version})

    def group():
        return scaling.find_group(aws.autoscaling, GROUP)

    def current(instance):
        return instance.get("LaunchTemplate", {}).get("Version") == new.version

    old = [i["InstanceId"] for i in group()["Instances"] if not current(i)]
    for instance_id in old:
        aws.autoscaling.set_instance_health(InstanceId=instance_id, HealthStatus="Unhealthy", ShouldRespectGracePeriod=True)
        while True:  # _wait_for_elb_state: every 5 s, no timeout
            states = aws.elb.describe_instance_health(LoadBalancerName=BALANCER)["InstanceStates"]
            if all(s["State"] == "OutOfService" for s in states if s["InstanceId"] == instance_id):
                break
            time.sleep(bench.real(5))
        time.sleep(bench.real(45))
        for _ in range(36):  # any current-launch instance, in any state
            time.sleep(bench.real(5))
            if any(current(i) for i in group()["Instances"]):
                break
        while True:  # every (elb, current instance) InService, polled every 10 s
            ids = [i["InstanceId"] for i in group()["Instances"] if current(i)]
            states = {s["InstanceId"]: s["State"] for s in aws.elb.describe_instance_health(LoadBalancerName=BALANCER)["InstanceStates"]}
            if ids and all(states.get(i) == "InService" for i in ids):
                break
            time.sleep(bench.real(10))
    bench.wait_healthy(aws, size, new)


def ansible_replace_all(bench: Bench, aws: Aws, new: Launch, size: int) -> None:
    """amazon.aws.autoscaling_group with replace_all_instances (batch 1); its 10 s polls are real seconds."""
    group = scaling.find_group(aws.autoscaling, GROUP)
    playbook = bench.state / "replace.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "tasks": [{"amazon.aws.autoscaling_group": {
            "name": GROUP, "endpoint_url": bench.endpoint, "region": "us-east-1",
            "launch_template": {"launch_template_id": new.template_id, "version": new.version},
            "min_size": size, "max_size": 2 * size + 2, "desired_capacity": size,
            "vpc_zone_identifier": group["VPCZoneIdentifier"].split(","),
            "load_balancers": group["LoadBalancerNames"], "health_check_type": "ELB",
            "replace_all_instances": True, "replace_batch_size": 1, "wait_for_instances": True, "wait_timeout": 3600,
        }}],
    }]))
    result = subprocess.run([str(ANSIBLE), "-i", "localhost,", str(playbook)], capture_output=True, text=True,
                            env={**os.environ, "ANSIBLE_PYTHON_INTERPRETER": str(ANSIBLE.parent / "python")})
    if result.returncode:
        raise RuntimeError(f"ansible-playbook failed:\n{result.stdout}")
    bench.wait_healthy(aws, size, new)


def strategies(size: int) -> dict:
    quarter = max(1, size // 4)
    found = {
        "deploy_serial batch 1 (ours)": (ours(DEPLOY_SERIAL, 1), size),
        f"deploy_serial batch {quarter} (ours)": (ours(DEPLOY_SERIAL, quarter), math.ceil(size / quarter)),
        "deploy_full (ours)": (ours(DEPLOY_FULL), 1),
        "1.x deploy_serial (model)": (model_1x_serial, size),
        "AWS Instance Refresh (defaults)": (instance_refresh, math.ceil(size / max(1, size - math.ceil(size * 0.9)))),
    }
    if ANSIBLE.exists():
        found["Ansible replace_all_instances (batch 1)"] = (ansible_replace_all, size)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="2,4,8,16")
    parser.add_argument("--scale", type=float, default=20.0)
    parser.add_argument("--only", default="", help="run only strategies whose name contains this")
    args = parser.parse_args()
    bench = Bench(args.scale)
    rows = []
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            batch_limit = BOOT + HEALTHY * INTERVAL
            for name, (run, batches) in strategies(size).items():
                if args.only and args.only not in name:
                    continue
                aws, new = bench.prepare(size)
                before = bench.call("/_sandbox/stats")["total"]
                started = time.monotonic()
                run(bench, aws, new, size)
                elapsed = time.monotonic() - started
                calls = bench.call("/_sandbox/stats")["total"] - before
                rows.append((size, name, elapsed, bench.aws_seconds(elapsed), calls, batches * batch_limit))
                print(f"N={size:2d}  {name:40s} {elapsed:7.1f} s  ({bench.aws_seconds(elapsed):6.0f} AWS s)  {calls:5d} calls", flush=True)
    finally:
        bench.stop()
    header = f"{'N':>3}  {'strategy':40s} {'wall':>8} {'AWS-time':>9} {'API calls':>9} {'physical limit':>15}"
    lines = [f"time scale 1:{args.scale:g}; boot {BOOT:g} s, health interval {INTERVAL:g} s, healthy threshold {HEALTHY}", header]
    for size, name, elapsed, aws_time, calls, limit in rows:
        lines.append(f"{size:>3}  {name:40s} {elapsed:7.1f}s {aws_time:8.0f}s {calls:>9} {limit:>13.0f}s")
    table = "\n".join(lines)
    print("\n" + table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rolling_deploy.txt").write_text(table + "\n")


if __name__ == "__main__":
    main()
