"""`make demo`: the 1.x deployment guide on the built-in sandbox, with a real Django + Celery site.

1. starts the sandbox with real hosts (root needed) and creates what examples/myproject's
   configuration names (VPC, subnets, security groups, load balancers, Auto Scaling groups);
2. makes a working copy of the example project in ~/.cache/fabulaws/demo (its own git repository, an
   operator key, generated secrets) and publishes it on the sandbox git server;
3. runs ``fabulaws create_environment:myproject,testing`` (skipped when the environment exists);
4. commits a visible change (the home page's version number) and runs ``deploy_serial``;
5. prints the load balancer's URL, what it serves, and ``describe``.

Idempotent: a second run reuses the sandbox, the working copy and the environment, and deploys a new version.
"""

from __future__ import annotations

import getpass
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent / "myproject"
WORK = Path(os.environ.get("FABULAWS_DEMO_DIR") or Path.home() / ".cache" / "fabulaws" / "demo")
PROJECT = WORK / "myproject"
KEY = WORK / "operator_key"
OPERATOR = "demo"
SITE = "myproject-testing.sandbox.test"
phases: list[tuple[str, float]] = []


def run(*command: str, cwd: Path = PROJECT, capture: bool = False) -> subprocess.CompletedProcess:
    print(f"\n$ {' '.join(command)}", flush=True)
    result = subprocess.run(command, cwd=cwd, text=True, capture_output=capture)
    if result.returncode:
        if capture:
            sys.stderr.write(result.stdout + result.stderr)
        sys.exit(f"demo: `{' '.join(command)}` failed (exit {result.returncode})")
    return result


def fabulaws(*args: str, capture: bool = False) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "fabulaws", "-u", OPERATOR, "-i", str(KEY), *args, capture=capture)


def phase(name: str, started: float) -> None:
    phases.append((name, time.monotonic() - started))


def working_copy() -> None:
    """The example as a user's project: its own repository, an operator key in ssh_keys, secrets (0600)."""
    if (PROJECT / ".git").exists():
        return
    WORK.mkdir(parents=True, exist_ok=True)
    shutil.copytree(EXAMPLE, PROJECT)
    (PROJECT / ".gitignore").write_text("fabsecrets*.py\n.fabulaws/\n__pycache__/\n")
    if not KEY.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fabulaws demo", "-f", str(KEY)], check=True)
    users = PROJECT / "deployment" / "users"
    users.mkdir(parents=True, exist_ok=True)
    (users / OPERATOR).write_text((WORK / "operator_key.pub").read_text())
    values = {name: secrets.token_urlsafe(24) for name in ("database_password", "broker_password", "secret_key")}
    descriptor = os.open(PROJECT / "fabsecrets_testing.py", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("".join(f"{name} = {value!r}\n" for name, value in values.items()))
    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-qm", "The example project")


def git(*args: str) -> None:
    subprocess.run(["git", "-c", "user.name=FabulAWS demo", "-c", f"user.email={getpass.getuser()}@localhost", *args],
                   cwd=PROJECT, check=True)


def bump_version() -> int:
    path = PROJECT / "myproject" / "version.py"
    text = path.read_text()
    version = int(re.search(r"version (\d+)", text).group(1)) + 1
    path.write_text(re.sub(r"version \d+", f"version {version}", text))
    git("commit", "-qam", f"Version {version}")
    return version


def environment_exists() -> bool:
    """A worker and a web server already run in the testing environment (a previous demo made them)."""
    import boto3

    found = boto3.client("ec2").describe_instances(Filters=[
        {"Name": "tag:environment", "Values": ["testing"]}, {"Name": "tag:role", "Values": ["worker", "web"]},
        {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]
    roles = {t["Value"] for r in found for i in r["Instances"] for t in i["Tags"] if t["Key"] == "role"}
    return roles == {"worker", "web"}


def balancer_url() -> str:
    status = run(sys.executable, "-m", "fabulaws", "sandbox", "status", capture=True).stdout
    return re.search(r"load balancer myproject-testing-lb: (\S+)", status).group(1)


def fetch(url: str) -> str:
    request = urllib.request.Request(url, headers={"Host": SITE})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read().decode().strip()


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("demo: the sandbox's hosts need root (namespaces, mounts); run `sudo make demo`")
    started = time.monotonic()
    working_copy()
    up = run(sys.executable, "-m", "fabulaws", "sandbox", "up", "--hosts", "--time-scale", "60", "--seed",
             "fabulaws-config.yml", capture=True)
    for line in up.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        os.environ[key] = value
    status = run(sys.executable, "-m", "fabulaws", "sandbox", "status", capture=True).stdout
    if "base image:" not in status:
        sys.exit("demo: a sandbox without hosts is running; stop it with `fabulaws sandbox down` and run the demo again")
    run(sys.executable, "-m", "fabulaws", "sandbox", "publish", str(PROJECT), "--name", "myproject")
    phase("sandbox up, working copy, publish", started)

    if environment_exists():
        print("\n== the testing environment exists: create_environment skipped", flush=True)
    else:
        step = time.monotonic()
        fabulaws("create_environment:myproject,testing,num_web=2")
        phase("create_environment (4 servers in parallel, image, deploy_full)", step)

    url = balancer_url()
    print(f"\n== {url} (Host: {SITE}) says: {fetch(url + '/')}", flush=True)
    step = time.monotonic()
    version = bump_version()
    run(sys.executable, "-m", "fabulaws", "sandbox", "publish", str(PROJECT), "--name", "myproject")
    fabulaws("deploy_serial:myproject,testing")
    phase(f"deploy_serial of version {version} (image, then one server at a time)", step)
    fabulaws("describe:myproject,testing")

    print(f"\n== the site, through the load balancer {url} (Host: {SITE}):")
    print(f"   /                 -> {fetch(url + '/')}")
    print(f"   /healthcheck.html -> {fetch(url + '/healthcheck.html')}")
    print(f"   /celery-ping/     -> {fetch(url + '/celery-ping/')}")
    print(f"\n== try it: curl -H 'Host: {SITE}' {url}/")
    print(f"   the project: {PROJECT} (fabulaws -u {OPERATOR} -i {KEY} <task>)")
    print("   stop everything: .venv/bin/fabulaws sandbox down")
    print("\n== phases:")
    for name, seconds in phases:
        print(f"   {seconds:7.1f} s  {name}")
    print(f"   {time.monotonic() - started:7.1f} s  in all")


if __name__ == "__main__":
    main()
