"""`make demo`: rehearse FabulAWS commands against a local AWS (moto over HTTP).

Starts a moto server, creates what the 1.x docs tell users to create by hand for
examples/myproject (VPC, subnets, security groups, load balancers, target groups,
Auto Scaling groups), scales the testing group to two web servers, then runs the
1.x commands a user would type, with `fab` replaced by `fabulaws`.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from moto.server import ThreadedMotoServer

from fabulaws.aws import Aws
from fabulaws.config import load_settings
from fabulaws.sandbox.seed import seed

PROJECT = Path(__file__).resolve().parent / "myproject"
COMMANDS = [
    ["describe:myproject,testing"],
    ["suspend_autoscaling_processes:myproject,testing,Launch,AddToLoadBalancer"],
    ["resume_autoscaling_processes:myproject,testing"],
    ["testing", "describe:myproject,testing", "--json"],
]


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
    }
    os.environ.update(env)
    started = time.monotonic()
    settings = load_settings(PROJECT / "fabulaws-config.yml")
    aws = Aws.from_settings(settings)
    print(f"== local AWS at {env['AWS_ENDPOINT_URL']}; creating what examples/myproject needs")
    for line in seed(aws, settings):
        print("   " + line)
    aws.autoscaling.update_auto_scaling_group(AutoScalingGroupName="myproject-testing-ag", MinSize=2, DesiredCapacity=2)
    for args in COMMANDS:
        print(f"\n$ fabulaws {shlex.join(args)}", flush=True)
        result = subprocess.run([sys.executable, "-m", "fabulaws", *args], cwd=PROJECT, env=env)
        if result.returncode:
            sys.exit(result.returncode)
    server.stop()
    print(f"\n== demo finished in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
