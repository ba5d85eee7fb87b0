"""Sandbox hosts: cold and warm `sandbox up --hosts`, and RunInstances -> SSH-ready.

Needs root. Usage: python benchmarks/sandbox_hosts.py [--skip-cold] [--instances N]
Cold builds the base image from the Debian archive in a fresh cache (a few minutes);
warm reuses it. Prints one table and writes it to benchmarks/results/sandbox_hosts.txt.
"""

from __future__ import annotations

import argparse
import io
import ipaddress
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
import paramiko

RESULTS = Path(__file__).resolve().parent / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fabulaws(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fabulaws", *args], env={**os.environ, **env}, capture_output=True, text=True, check=True)


def status(endpoint: str) -> dict:
    with urllib.request.urlopen(endpoint + "/_sandbox/status", timeout=10) as response:
        return json.load(response)


def up_until_ready(env: dict, scale: float) -> tuple[float, str]:
    """Seconds from `sandbox up --hosts` to a base image ready for hosts."""
    port = free_port()
    started = time.monotonic()
    fabulaws("sandbox", "up", "--hosts", "--port", str(port), "--time-scale", str(scale), env=env)
    endpoint = f"http://127.0.0.1:{port}"
    while status(endpoint)["hosts"]["base_image"] != "ready":
        time.sleep(0.5)
    return time.monotonic() - started, endpoint


def ssh_ready(endpoint: str, count: int) -> list[float]:
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    ec2 = session.client("ec2", endpoint_url=endpoint)
    # The sandbox's own range (10.N.0.0/16 in slot N), so this runs beside other sandboxes (the demo's).
    with urllib.request.urlopen(endpoint + "/_sandbox/network", timeout=10) as response:
        cidr = ipaddress.ip_network(json.load(response)["vpc_cidr"])
    vpc = ec2.create_vpc(CidrBlock=str(cidr))["Vpc"]["VpcId"]
    first_subnet = str(list(cidr.subnets(new_prefix=24))[1])
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=first_subnet, AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    key = ec2.create_key_pair(KeyName="bench")
    pkey = paramiko.RSAKey.from_private_key(io.StringIO(key["KeyMaterial"]))
    times = []
    for _ in range(count):
        started = time.monotonic()
        instance = ec2.run_instances(ImageId="ami-785db401", MinCount=1, MaxCount=1, KeyName="bench", SubnetId=subnet)["Instances"][0]
        while True:
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            try:
                client.connect(instance["PrivateIpAddress"], username="ubuntu", pkey=pkey, timeout=2, banner_timeout=3,
                               auth_timeout=3, look_for_keys=False, allow_agent=False)
                client.exec_command("true")[1].channel.recv_exit_status()
                break
            except (OSError, paramiko.SSHException, EOFError):
                time.sleep(0.05)
            finally:
                client.close()
        times.append(time.monotonic() - started)
    return times


def main() -> None:
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)  # refused connections while sshd starts are expected
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--instances", type=int, default=5)
    parser.add_argument("--scale", type=float, default=60.0, help="time scale (boot 60 AWS s = 60/scale real s)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as cold_cache, tempfile.TemporaryDirectory() as state:
        env = {"FABULAWS_SANDBOX_DIR": state}
        if not args.skip_cold:
            seconds, _ = up_until_ready({**env, "XDG_CACHE_HOME": cold_cache}, args.scale)
            fabulaws("sandbox", "down", env=env)
            rows.append(("sandbox up --hosts, cold (debootstrap the base image)", f"{seconds:.1f} s"))
        seconds, endpoint = up_until_ready(env, args.scale)
        rows.append(("sandbox up --hosts, warm (cached base image)", f"{seconds:.1f} s"))
        try:
            times = ssh_ready(endpoint, args.instances)
        finally:
            fabulaws("sandbox", "down", env=env)
        boot = 60 / args.scale
        rows.append((f"RunInstances -> SSH-ready (median of {len(times)}, boot {boot:.1f} s at 1:{args.scale:g})", f"{statistics.median(times):.2f} s"))
        rows.append(("  of which host start after the instance is running", f"{statistics.median(times) - boot:.2f} s"))
    width = max(len(label) for label, _ in rows)
    table = "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sandbox_hosts.txt").write_text(table + "\n")


if __name__ == "__main__":
    main()
