"""`make demo`: rehearse FabulAWS commands on the built-in sandbox.

Starts the sandbox (a local AWS whose Auto Scaling groups and load balancers
behave like AWS's) unless it is running, creates what examples/myproject needs
(VPC, subnets, security groups, load balancers, target groups, Auto Scaling
groups), scales the testing group to two web servers and waits until the load
balancers report them healthy, then runs the 1.x commands a user would type,
with `fab` replaced by `fabulaws`. Idempotent: a second run reuses what exists.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent / "myproject"
GROUP = "myproject-testing-ag"
COMMANDS = [
    ["describe:myproject,testing"],
    ["suspend_autoscaling_processes:myproject,testing,Launch,AddToLoadBalancer"],
    ["resume_autoscaling_processes:myproject,testing"],
    ["testing", "describe:myproject,testing", "--json"],
]


def fabulaws(*args: str, env: dict | None = None, capture: bool = False) -> subprocess.CompletedProcess:
    print(f"\n$ fabulaws {shlex.join(args)}", flush=True)
    result = subprocess.run([sys.executable, "-m", "fabulaws", *args], cwd=PROJECT, env=env, text=True, capture_output=capture)
    if capture:
        sys.stderr.write(result.stderr)
        sys.stdout.write(result.stdout)
    if result.returncode:
        sys.exit(result.returncode)
    return result


def main() -> None:
    started = time.monotonic()
    up = fabulaws("sandbox", "up", "--seed", "fabulaws-config.yml", capture=True)
    env = {**os.environ}
    for line in up.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    os.environ.update(env)

    import boto3

    autoscaling = boto3.client("autoscaling")
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=GROUP, MinSize=2, DesiredCapacity=2)
    print(f"\n== scaled {GROUP} to 2 web servers; waiting until both are InService and healthy", flush=True)
    elb = boto3.client("elb")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]
        health = elb.describe_instance_health(LoadBalancerName="myproject-testing-lb")["InstanceStates"]
        if len(health) == 2 and all(h["State"] == "InService" for h in health):
            break
        states = ", ".join(f"{i['InstanceId']} {i['LifecycleState']}" for i in group["Instances"]) or "none yet"
        print(f"   instances: {states}; load balancer: {', '.join(h['State'] for h in health) or 'nothing registered'}")
        time.sleep(1)
    for args in COMMANDS:
        fabulaws(*args, env=env)
    print(f"\n== demo finished in {time.monotonic() - started:.1f} s; the sandbox keeps running:")
    print("   eval $(.venv/bin/fabulaws sandbox env)   # point boto3 / the AWS CLI at it")
    print("   .venv/bin/fabulaws sandbox status        # what it holds")
    print("   .venv/bin/fabulaws sandbox down          # stop it")


if __name__ == "__main__":
    main()
