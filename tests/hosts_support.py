"""What the host tests share: the operator's shell on a server, a process-list watch, the site over HTTPS,
the example's code published on the sandbox git server."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import paramiko

from conftest import FIRST_BOOT_TIMEOUT, run_cli

OPERATOR = "fabtester"
CREATE_TIMEOUT = FIRST_BOOT_TIMEOUT + 1800


def fabulaws(project, *args, timeout=CREATE_TIMEOUT):
    return run_cli(["-u", OPERATOR, "-i", str(project["key"]), *args], project["dir"], env=project["env"], timeout=timeout)


class ProcessWatch(threading.Thread):
    """Every command line on this machine (sandbox hosts' processes included), sampled until stopped."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__(daemon=True)
        self.secrets = secrets
        self.seen: set[str] = set()
        self.samples = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
            self.samples += 1
            for line in listing.splitlines():
                if any(secret in line for secret in self.secrets):
                    self.seen.add(line)
            time.sleep(0.1)


def aws_client(project, service):
    import boto3

    return boto3.client(service, endpoint_url=project["endpoint"], region_name="us-east-1",
                        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")


class Shell:
    """SSH to a server as the operator, with the project's recorded host keys (never auto-accepted)."""

    def __init__(self, project, address: str, user: str = OPERATOR) -> None:
        self.client = paramiko.SSHClient()
        self.client.load_host_keys(str(project["dir"] / ".fabulaws" / "known_hosts"))
        self.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        self.client.connect(address, username=user, key_filename=str(project["key"]), look_for_keys=False,
                            allow_agent=False, timeout=10)

    def run(self, command: str, stdin: str | None = None) -> tuple[int, str]:
        channel_in, out, err = self.client.exec_command(command, timeout=120)
        if stdin is not None:
            channel_in.write(stdin)
            channel_in.channel.shutdown_write()
        code = out.channel.recv_exit_status()
        return code, out.read().decode() + err.read().decode()

    def ok(self, command: str, stdin: str | None = None) -> str:
        code, output = self.run(command, stdin)
        assert code == 0, f"{command!r} failed ({code}): {output}"
        return output

    def python(self, script: str) -> str:
        """Run a Python script fed on stdin (so test credentials stay off command lines too)."""
        return self.ok("python3 -", stdin=script)


def http_get(address: str, path: str, timeout: float = 30, headers: dict | None = None) -> tuple[int, str]:
    """GET https://<server>/<path> as the load balancer would (the servers' certificate is self-signed)."""
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        request = urllib.request.Request(f"https://{address}{path}", headers=headers or {})
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def commit(repository: Path, message: str) -> None:
    for command in (["git", "add", "-A"], ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "commit", "-qm", message]):
        subprocess.run(command, cwd=repository, check=True)


def publish(project, repository: Path) -> None:
    published = run_cli(["sandbox", "publish", str(repository), "--name", "myproject"], repository, env=project["env"])
    assert published.returncode == 0, published.stderr


def host_project(hosts_sandbox: dict, root: Path, secrets: dict[str, str], config_edit=None) -> dict:
    """The example project in ``root``, with a sysadmin key for OPERATOR and ``secrets``; the sandbox emptied and
    seeded from it."""
    import shutil

    import yaml

    from conftest import EXAMPLE, _sandbox_call

    directory = root / "myproject"
    shutil.copytree(EXAMPLE, directory)
    users = directory / "deployment" / "users"
    users.mkdir(parents=True, exist_ok=True)
    key = root / "operator_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (users / OPERATOR).write_text((root / "operator_key.pub").read_text())
    (users / f"{OPERATOR}.gecos").write_text("Fab Tester, Room 1\n")
    if config_edit is not None:
        config = yaml.safe_load((directory / "fabulaws-config.yml").read_text())
        config_edit(config)
        (directory / "fabulaws-config.yml").write_text(yaml.safe_dump(config))
    (directory / "fabsecrets_testing.py").write_text("".join(f"{k} = {v!r}\n" for k, v in secrets.items()))
    _sandbox_call(hosts_sandbox["endpoint"], "/_sandbox/reset", {})
    seeded = run_cli(["sandbox", "up", "--seed", str(directory / "fabulaws-config.yml")], directory, env=hosts_sandbox["env"])
    assert seeded.returncode == 0, seeded.stderr
    env = {**hosts_sandbox["env"], "AWS_ENDPOINT_URL": hosts_sandbox["endpoint"], "AWS_ACCESS_KEY_ID": "sandbox",
           "AWS_SECRET_ACCESS_KEY": "sandbox", "AWS_DEFAULT_REGION": "us-east-1"}
    return {"dir": directory, "key": key, "env": env, "endpoint": hosts_sandbox["endpoint"], "state": hosts_sandbox["state"]}


def seeded_subnet(hosts_sandbox: dict, letter: str) -> str:
    """The CIDR the seed gives the subnet of zone ``letter`` ("a" -> 10.N.1.0/24 in the sandbox's slot N)."""
    import ipaddress

    from conftest import sandbox_network

    network = ipaddress.ip_network(sandbox_network(hosts_sandbox["endpoint"])["vpc_cidr"])
    return str(list(network.subnets(new_prefix=24))["abcdef".index(letter) + 1])


def scaling_story(project: dict) -> str:
    """The sandbox log's launches, terminations and Unhealthy verdicts: why a group changed its servers."""
    log = Path(project["state"]) / "sandbox.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return "\n".join(line for line in lines if "fabulaws.sandbox.scaling" in line)


def code_repository(root: Path) -> Path:
    """The example's code as its own git repository (what a user's project repository is)."""
    import shutil

    from conftest import EXAMPLE

    repository = root / "myproject"
    shutil.copytree(EXAMPLE, repository, ignore=shutil.ignore_patterns("fabsecrets*", ".fabulaws"))
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repository, check=True)
    commit(repository, "The example project")
    return repository
