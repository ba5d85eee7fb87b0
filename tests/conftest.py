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


def run_cli(args: list[str], cwd: Path, env: dict | None = None, program: str = "fabulaws", stdin: str | None = None):
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
        timeout=120,
    )
