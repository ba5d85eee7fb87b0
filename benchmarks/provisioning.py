"""Creating db-primary, db-replica, cache and worker: in parallel (one run) vs one by one (four runs).

Needs root (sandbox hosts). Usage: python benchmarks/provisioning.py [--no-warmup]
Runs on a fresh hosts sandbox seeded from examples/myproject: a warm-up parallel
creation first (fills the apt cache, so both measured runs download nothing),
then the four servers one by one, then the four in parallel. Prints one table and
writes it to benchmarks/results/provisioning.txt.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
SERVERS = ["db-primary:a", "db-replica:a", "cache:b", "worker:b"]
USER = "bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(endpoint: str, path: str, payload: dict) -> None:
    request = urllib.request.Request(endpoint + path, data=json.dumps(payload).encode(), method="POST")
    urllib.request.urlopen(request, timeout=30).close()


def project(root: Path) -> tuple[Path, Path]:
    directory = root / "myproject"
    shutil.copytree(REPO / "examples" / "myproject", directory)
    key = root / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    users = directory / "deployment" / "users"
    users.mkdir(parents=True, exist_ok=True)
    (users / USER).write_text((root / "key.pub").read_text())
    (directory / "fabsecrets_testing.py").write_text("database_password = 'bench-db'\nbroker_password = 'bench-mq'\n")
    return directory, key


def create(directory: Path, key: Path, env: dict, servers: list[str]) -> float:
    """Seconds to create ``servers`` in one parallel creation (as create_environment does)."""
    started = time.monotonic()
    subprocess.run([sys.executable, str(REPO / "tests" / "provision_driver.py"), USER, str(key), *servers],
                   cwd=directory, env={**os.environ, **env}, check=True, capture_output=True, text=True)
    return time.monotonic() - started


def terminate_all(endpoint: str) -> None:
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    ids = [i["InstanceId"] for r in ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running"]}])
           ["Reservations"] for i in r["Instances"]]
    if ids:
        ec2.terminate_instances(InstanceIds=ids)


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="fabulaws-bench-provisioning-"))
    state = root / "sandbox"
    env = {"FABULAWS_SANDBOX_DIR": str(state), "AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox",
           "AWS_DEFAULT_REGION": "us-east-1"}
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env["AWS_ENDPOINT_URL"] = endpoint
    directory, key = project(root)
    fabulaws = [sys.executable, "-m", "fabulaws", "sandbox"]
    subprocess.run([*fabulaws, "up", "--hosts", "--port", str(port), "--time-scale", "60",
                    "--seed", str(directory / "fabulaws-config.yml")], env={**os.environ, **env}, check=True, capture_output=True)
    try:
        warmup = None
        if "--no-warmup" not in sys.argv:  # the apt cache (~/.cache/fabulaws/apt) may already be warm
            warmup = create(directory, key, env, SERVERS)
            terminate_all(endpoint)
        one_by_one = {server: create(directory, key, env, [server]) for server in SERVERS}
        terminate_all(endpoint)
        parallel = create(directory, key, env, SERVERS)
    finally:
        subprocess.run([*fabulaws, "down"], env={**os.environ, **env}, capture_output=True)
    sequential = sum(one_by_one.values())
    lines = ["Creating db-primary, db-replica, cache and worker on sandbox hosts (warm apt cache, time scale 1:60)"]
    lines += [f"  one by one: {name:<14} {seconds:6.1f} s" for name, seconds in one_by_one.items()]
    lines += [
        f"  one by one, total        {sequential:6.1f} s",
        f"  in parallel              {parallel:6.1f} s   ({sequential / parallel:.1f}x faster)",
    ]
    if warmup is not None:
        lines.append(f"  (warm-up run, in parallel, filling the apt cache if empty: {warmup:.1f} s)")
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "provisioning.txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
