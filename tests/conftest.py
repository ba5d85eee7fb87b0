"""Shared fixtures: a real moto server over HTTP, project directories, the CLI as a subprocess."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "myproject"


@pytest.fixture(scope="session")
def moto_endpoint():
    """One moto server (ThreadedMotoServer: real HTTP) for the whole run."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def aws_test_env(endpoint: str) -> dict[str, str]:
    """Environment pointing boto3 (ours or any other client) at ``endpoint`` with dummy credentials."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


@pytest.fixture
def aws_env(moto_endpoint, monkeypatch):
    """A freshly reset moto, with this process's environment pointed at it."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request).close()
    env = aws_test_env(moto_endpoint)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return env


@pytest.fixture
def example_project(tmp_path):
    """A copy of examples/myproject's configuration in a fresh directory."""
    project = tmp_path / "myproject"
    project.mkdir()
    shutil.copy(EXAMPLE / "fabulaws-config.yml", project / "fabulaws-config.yml")
    return project


def run_cli(args: list[str], cwd: Path, env: dict | None = None, program: str = "fabulaws", stdin: str | None = None,
            timeout: float = 120):
    """Run ``fabulaws`` (or Fabric's ``fab``) in ``cwd`` as a user would; returns CompletedProcess."""
    module = "fabulaws" if program == "fabulaws" else "fabric"
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# --- the sandbox: one process for the session, reset before each test ---------------------------
SANDBOX_SCALE = 60.0  # a 60 s boot takes one second


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sandbox_call(endpoint: str, path: str, payload: dict | None = None, timeout: float = 10) -> dict:
    import json

    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(endpoint + path, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


@pytest.fixture(scope="session")
def sandbox_process(tmp_path_factory):
    """``fabulaws sandbox serve`` in its own process (moto there is patched; never in this one)."""
    import time

    state = tmp_path_factory.mktemp("sandbox-state")
    port = _free_port()
    log = open(state / "sandbox.log", "wb")
    env = {**os.environ, "FABULAWS_SANDBOX_DIR": str(state)}
    process = subprocess.Popen(
        [sys.executable, "-m", "fabulaws.sandbox", "serve", "--port", str(port), "--time-scale", str(SANDBOX_SCALE)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            _sandbox_call(endpoint, "/_sandbox/health")
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox did not start; see {state / 'sandbox.log'}") from None
            time.sleep(0.1)
    yield endpoint
    process.terminate()
    try:  # it joins its threads (5 s each) before exiting: slow on a loaded machine, never an error of the run
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def sandbox_network(endpoint: str) -> dict:
    """The sandbox's slot and address ranges (``/_sandbox/network``); slot 0's for a sandbox without slots."""
    import urllib.error

    try:
        return _sandbox_call(endpoint, "/_sandbox/network")
    except urllib.error.HTTPError:
        return {"slot": 0, "vpc_cidr": "10.0.0.0/16", "default_vpc_cidr": "172.31.0.0/16"}


class SandboxHandle:
    """A reset sandbox for one test: boto3 clients, timings, request stats, its slot's VPC range."""

    def __init__(self, endpoint: str) -> None:
        import ipaddress

        import boto3
        from botocore.config import Config

        self.endpoint = endpoint
        self.network = sandbox_network(endpoint)
        self.vpc_network = ipaddress.ip_network(self.network["vpc_cidr"])  # 10.N.0.0/16 in slot N
        self.env = {**aws_test_env(endpoint), "AWS_DEFAULT_REGION": "us-east-1"}
        session = boto3.Session(aws_access_key_id="sandbox", aws_secret_access_key="sandbox", region_name="us-east-1")
        config = Config(retries={"mode": "standard", "max_attempts": 3})
        for service in ("ec2", "autoscaling", "elb", "elbv2", "cloudwatch"):
            setattr(self, service, session.client(service, endpoint_url=endpoint, config=config))

    def timings(self, **values) -> dict:
        return _sandbox_call(self.endpoint, "/_sandbox/timings", values)

    def stats(self) -> dict:
        return _sandbox_call(self.endpoint, "/_sandbox/stats")

    def status(self) -> dict:
        return _sandbox_call(self.endpoint, "/_sandbox/status")

    def real(self, aws_seconds: float) -> float:
        return aws_seconds / SANDBOX_SCALE

    def subnet_cidr(self, index: int) -> str:
        """The index-th /24 of the sandbox's VPC range (index 1 is 10.N.1.0/24, as the seed's first subnet)."""
        return str(list(self.vpc_network.subnets(new_prefix=24))[index])


@pytest.fixture
def sandbox(sandbox_process, monkeypatch):
    """The shared sandbox, reset, at the test time scale, with this process's AWS env pointed at it."""
    # a reset rebuilds moto's backends (CPU for a second or more): slower than 10 s on a machine loaded by two
    # pytest-xdist workers and other runs (seen at load 40)
    _sandbox_call(sandbox_process, "/_sandbox/reset", {}, timeout=120)
    _sandbox_call(
        sandbox_process,
        "/_sandbox/timings",
        {"scale": SANDBOX_SCALE, "instance_boot": 60, "image_create": 60, "volume_create": 10, "volume_attach": 5, "warmup": 30},
    )
    handle = SandboxHandle(sandbox_process)
    for key, value in handle.env.items():
        monkeypatch.setenv(key, value)
    yield handle
    errors = _sandbox_call(sandbox_process, "/_sandbox/health")["errors"]
    assert errors == [], f"sandbox control loop errors: {errors}"


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last value {value!r}")
        time.sleep(interval)


WORKER_LINES: list[str] = []  # lines pytest-xdist workers leave for the end of the output (the kill matrix's)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist (make test's run without hosts): a worker's own summary line is printed by the controller."""
    line = getattr(node, "workeroutput", {}).get("kill_matrix")
    if line:
        WORKER_LINES.append(line)


def pytest_terminal_summary(terminalreporter):
    for line in WORKER_LINES:
        terminalreporter.write_line(line)


# --- the hosts sandbox: real Debian hosts; one per test module that asks ----------------------------------
# Each sandbox holds its own slot (network namespace and address ranges), so these run next to the
# demo's sandbox, a benchmark's, or another test run's.
HOSTS_SCALE = 60.0
FIRST_BOOT_TIMEOUT = 900  # includes building the base image on a fresh machine


def pytest_collection_modifyitems(config, items):
    """Tests that use a hosts sandbox (a fixture named ``hosts_sandbox*``) are marked ``hosts``: select or skip
    them with ``-m``."""
    marked = 0
    for item in items:
        if any(name.startswith("hosts_sandbox") for name in getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.hosts)
            marked += 1
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if marked and os.geteuid() != 0 and reporter is not None:
        reporter.write_line(f"fabulaws: {marked} sandbox host test(s) will be skipped: {NOT_ROOT}", yellow=True)


NOT_ROOT = "they need root (sandbox hosts use network namespaces, mounts and loop devices; CI runs them as root)"


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip(f"sandbox hosts: {NOT_ROOT}")


def start_hosts_sandbox(state: Path) -> dict:
    """``fabulaws sandbox up --hosts`` with its own state directory; its endpoint, state, env and slot."""
    import json

    env = {"FABULAWS_SANDBOX_DIR": str(state)}
    port = _free_port()
    up = run_cli(["sandbox", "up", "--hosts", "--port", str(port), "--time-scale", str(HOSTS_SCALE)], state, env=env)
    assert up.returncode == 0, up.stderr
    endpoint = f"http://127.0.0.1:{port}"
    slot = json.loads((state / "sandbox.json").read_text()).get("slot", 0)
    return {"endpoint": endpoint, "state": state, "env": env, "slot": slot}


def stop_hosts_sandbox(sandbox: dict) -> None:
    """``sandbox down``, given more time than its own bounds (a graceful stop of up to STOP_TIMEOUT, then a kill and
    the cleanup): a loaded machine took over 120 s to stop a whole environment's hosts gracefully."""
    from fabulaws.sandbox.cli import STOP_TIMEOUT

    down = run_cli(["sandbox", "down"], sandbox["state"], env=sandbox["env"], timeout=STOP_TIMEOUT + 180)
    assert down.returncode == 0, down.stderr


@pytest.fixture(scope="module")
def hosts_sandbox(tmp_path_factory):
    """``fabulaws sandbox up --hosts`` in its own state directory, brought down (even after a kill) at the end."""
    require_root()
    sandbox = start_hosts_sandbox(tmp_path_factory.mktemp("hosts-sandbox"))
    yield sandbox
    stop_hosts_sandbox(sandbox)


# The environment create_environment builds once per session, for test_environment.py and the day-2 modules.
from environment_support import environment, hosts_sandbox_shared  # noqa: E402, F401
