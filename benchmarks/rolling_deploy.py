"""Rolling replacement of N web servers on the sandbox: wall time and AWS API calls, strategies side by side.

One time scale for everything: boot 60 s, health-check interval 10 s, healthy
threshold 2, scaled 1:20 (so a batch can not finish in less than 80 AWS seconds,
4 real seconds). Every fixed sleep and poll of a strategy is given in AWS seconds
and scaled the same way, except Ansible's, which are built into the module: so
Ansible is compared at time scale 1 (``--fair-sizes``, N=2 and N=4 by default),
where its 10 s polls mean what they mean on AWS, beside the others at that scale.

``--baseline REV`` adds our deploy_serial as it was at git revision REV (run from
``git archive REV``), so before and after are measured in one run.

Usage: python benchmarks/rolling_deploy.py [--sizes 2,4,8,16] [--scale 20] [--fair-sizes 2,4] [--baseline REV]
Prints the tables and writes them to benchmarks/results/rolling_deploy.txt (scaled) and rolling_deploy_fair.txt
(time scale 1); the healthy in-service capacity over time of every run goes beside them in .json, which
benchmarks/charts.py draws as .png (needs matplotlib: `make bench` installs it in .tools-bench).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fabulaws.aws import Aws, scaling  # noqa: E402
from fabulaws.aws.launch import Launch, create_template_version  # noqa: E402
from fabulaws.config import load_settings  # noqa: E402
from fabulaws.library.wsgiautoscale.deploy.full import DEPLOY_FULL  # noqa: E402
from fabulaws.library.wsgiautoscale.deploy.journal import Journal  # noqa: E402
from fabulaws.library.wsgiautoscale.deploy.operation import execute  # noqa: E402
from fabulaws.library.wsgiautoscale.deploy.run import DeployContext  # noqa: E402
from fabulaws.library.wsgiautoscale.deploy.serial import DEPLOY_SERIAL  # noqa: E402
from fabulaws.library.wsgiautoscale.deploy.steps import NoServerSteps  # noqa: E402
from fabulaws.sandbox.seed import seed  # noqa: E402
from fabulaws.waits import Polling  # noqa: E402

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

    def capacity(self) -> tuple[int, int]:
        """Servers InService in the group and healthy in the load balancer, and servers in the group (the
        sandbox's own status: no AWS call counted)."""
        status = self.call("/_sandbox/status")
        group = next((g for g in status["groups"] if g["name"] == GROUP), None)
        if group is None:
            return 0, 0
        healthy = {r["instance"] for r in status["registrations"] if r["balancer"] == BALANCER and r["state"] == "InService"}
        in_service = {i for i, state in group["instances"].items() if state == "InService"}
        return len(in_service & healthy), len(group["instances"])

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


def baseline(revision: str):
    """deploy_serial batch 1 as it was at ``revision``: its code exported from git, run in a child process."""
    tree = Path(tempfile.mkdtemp(prefix="fabulaws-baseline-"))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "fabulaws"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    runner = """
import sys
from fabulaws.config import load_settings
from fabulaws.aws import Aws
from fabulaws.aws.launch import Launch
from fabulaws.library.wsgiautoscale.deploy.run import DeployContext
from fabulaws.library.wsgiautoscale.deploy.journal import Journal
from fabulaws.library.wsgiautoscale.deploy.operation import execute
from fabulaws.library.wsgiautoscale.deploy.serial import DEPLOY_SERIAL
from fabulaws.library.wsgiautoscale.deploy.steps import NoServerSteps
from fabulaws.waits import Polling
import json
launch, size, scale, group = json.loads(sys.argv[1])
settings = load_settings("fabulaws-config.yml")
journal = Journal.start("deploy_serial", "myproject", "testing", group, {"launch": launch, "batch": 1, "num_web": size})
ctx = DeployContext(Aws.from_settings(settings), settings, "myproject", "testing", group, NoServerSteps(), journal,
                    Polling(delay=2 / scale, max_delay=15 / scale), 3600, lambda m: None)
execute(DEPLOY_SERIAL, ctx)
"""

    def run(bench: Bench, aws: Aws, new: Launch, size: int) -> None:
        subprocess.run([sys.executable, "-c", runner, json.dumps([new.to_dict(), size, bench.scale, GROUP])],
                       cwd=bench.project, env={**os.environ, "PYTHONPATH": str(tree)}, check=True)

    return run


def instance_refresh(bench: Bench, aws: Aws, new: Launch, size: int) -> None:
    """AWS Instance Refresh with its defaults (MinHealthyPercentage 90) but InstanceWarmup 20 s, the health checks'
    time (left out, AWS would use the group's grace period, 90 s here); polled every 15 AWS s."""
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


def strategies(size: int, baseline_revision: str = "") -> dict:
    quarter = max(1, size // 4)
    found = {
        "deploy_serial batch 1 (ours)": (ours(DEPLOY_SERIAL, 1), size),
        f"deploy_serial batch {quarter} (ours)": (ours(DEPLOY_SERIAL, quarter), math.ceil(size / quarter)),
        "deploy_full (ours)": (ours(DEPLOY_FULL), 1),
        "1.x deploy_serial (model)": (model_1x_serial, size),
        "AWS Instance Refresh (defaults, warmup 20 s)": (instance_refresh, math.ceil(size / max(1, size - math.ceil(size * 0.9)))),
    }
    if baseline_revision:
        found[f"deploy_serial batch 1 (ours at {baseline_revision[:7]})"] = (baseline(baseline_revision), size)
    if ANSIBLE.exists():
        found["Ansible replace_all_instances (batch 1)"] = (ansible_replace_all, size)
    return found


FAIR = ("deploy_serial batch 1 (ours)", "AWS Instance Refresh (defaults, warmup 20 s)", "Ansible replace_all_instances (batch 1)")


def measure(bench: Bench, size: int, name: str, run, batches: int) -> dict:
    """One strategy on a fresh fleet of ``size``: wall time, API calls, and capacity sampled every AWS second."""
    aws, new = bench.prepare(size)
    before = bench.call("/_sandbox/stats")["total"]
    samples: list[tuple[float, int, int]] = []
    stop = threading.Event()
    started = time.monotonic()

    def sample() -> None:
        while not stop.is_set():
            samples.append((bench.aws_seconds(time.monotonic() - started), *bench.capacity()))
            stop.wait(bench.real(1))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        run(bench, aws, new, size)
    finally:
        elapsed = time.monotonic() - started
        stop.set()
        sampler.join()
    calls = bench.call("/_sandbox/stats")["total"] - before
    samples.append((bench.aws_seconds(elapsed), *bench.capacity()))
    row = {"scale": bench.scale, "size": size, "strategy": name, "wall": elapsed, "aws_time": bench.aws_seconds(elapsed),
           "calls": calls, "limit": batches * (BOOT + HEALTHY * INTERVAL), "min_healthy": min(s[1] for s in samples),
           "samples": samples}
    print(f"1:{bench.scale:<3g} N={size:2d}  {name:45s} {elapsed:7.1f} s  ({row['aws_time']:6.0f} AWS s)  {calls:5d} calls"
          f"  min healthy {row['min_healthy']}", flush=True)
    return row


def chosen(name: str, only: str) -> bool:
    return not only or any(part and part in name for part in only.split(","))


def table(rows: list[dict], title: str) -> list[str]:
    header = f"{'N':>3}  {'strategy':45s} {'wall':>8} {'AWS-time':>9} {'API calls':>9} {'min healthy':>11} {'one at a time':>15}"
    lines = [title, header]
    for r in rows:
        lines.append(f"{r['size']:>3}  {r['strategy']:45s} {r['wall']:7.1f}s {r['aws_time']:8.0f}s {r['calls']:>9} "
                     f"{r['min_healthy']:>11} {r['limit']:>13.0f}s")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="2,4,8,16")
    parser.add_argument("--scale", type=float, default=20.0)
    parser.add_argument("--only", default="", help="run only strategies whose name contains one of these (a,b,...)")
    parser.add_argument("--fair-sizes", default="2,4",
                        help="sizes compared with Ansible at time scale 1 (its polls are real seconds); '' for none")
    parser.add_argument("--baseline", default="", metavar="REV", help="also run our deploy_serial as of git revision REV")
    parser.add_argument("--name", default="rolling_deploy",
                        help="results: benchmarks/results/NAME.{txt,json} (scaled) and NAME_fair.{txt,json} (time scale 1)")
    args = parser.parse_args()
    bench = Bench(args.scale)
    scaled: list[dict] = []
    fair: list[dict] = []
    machine = f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}"
    try:
        for size in [int(s) for s in args.sizes.split(",") if s]:
            for name, (run, batches) in strategies(size, args.baseline).items():
                if not chosen(name, args.only):
                    continue
                if name.startswith("Ansible"):
                    continue  # its polls are real seconds: compared at time scale 1 below
                scaled.append(measure(bench, size, name, run, batches))
        bench.scale = 1.0
        for size in [int(s) for s in args.fair_sizes.split(",") if s]:
            for name, (run, batches) in strategies(size).items():
                if name in FAIR and chosen(name, args.only):
                    fair.append(measure(bench, size, name, run, batches))
    finally:
        bench.stop()
    timing = f"boot {BOOT:g} s, health interval {INTERVAL:g} s, healthy threshold {HEALTHY}"
    RESULTS.mkdir(exist_ok=True)
    parts = [(args.name, scaled, f"time scale 1:{args.scale:g}; {timing}; every strategy's own sleeps and polls "
                                 "scaled the same way (Ansible's cannot be: compared at time scale 1)"),
             (f"{args.name}_fair", fair, f"time scale 1 (real AWS time); {timing}; Ansible's fixed 10 s polls are real "
                                         "seconds, so it is compared here, beside the others at the same scale")]
    for name, rows, title in parts:
        if not rows:
            continue
        lines = [f"machine: {machine}", "", *table(rows, title)]
        if rows is fair and not ANSIBLE.exists():
            lines.append(f"(Ansible not compared: {ANSIBLE} is missing; `make bench` installs it)")
        text = "\n".join(lines)
        print("\n" + text)
        (RESULTS / f"{name}.txt").write_text(text + "\n")
        data = {"kind": "capacity", "title": "deploy_serial and its peers: healthy in-service servers over time",
                "machine": machine, "runs": rows}
        (RESULTS / f"{name}.json").write_text(json.dumps(data) + "\n")
    print(f"(tables and chart data in {RESULTS}; benchmarks/charts.py draws them)")


if __name__ == "__main__":
    main()
