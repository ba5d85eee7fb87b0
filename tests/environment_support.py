"""The environment the 1.x deployment guide builds, shared by the modules that test what a team does with one.

``create_environment:myproject,testing`` runs once per test session (on its own hosts sandbox): test_environment.py
deploys it, and the day-2 modules (test_environment_*.py, which sort right after it) maintain it. The last of them
calls ``release_environment`` so its hosts do not outlive their use; the session's end releases it otherwise.
"""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import (
    _sandbox_call,
    require_root,
    start_hosts_sandbox,
    stop_hosts_sandbox,
)
from hosts_support import (
    ProcessWatch,
    code_repository,
    commit,
    fabulaws,
    host_project,
    publish,
)

SECRETS = {
    "database_password": "pg 'pa\"ss' $1",
    "broker_password": "amqp:/@pass word",
    "secret_key": "first secret key",
    "newrelic_license_key": "nr-license-$(id)",
    "newrelic_api_key": "nr-api 'key'",
}
SITE = "myproject-testing.sandbox.test"
DEPLOY_TIMEOUT = 1800
# A project fabfile, as 1.x projects had: the built-in tasks plus a post_bootstrap hook.
FABFILE = """\
from fabric import task

from fabulaws.library.wsgiautoscale.api import *  # noqa: F403


@task
def post_bootstrap(c):
    c.sudo("touch /var/tmp/post-bootstrap-ran")
"""


class MarkerServer(http.server.ThreadingHTTPServer):
    """Stands in for New Relic's deployments endpoint: keeps every marker posted (header key and form)."""

    def __init__(self) -> None:
        self.markers: list[dict] = []
        markers = self.markers

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                markers.append({"key": self.headers["x-api-key"], **dict(urllib.parse.parse_qsl(body))})
                self.send_response(201)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/deployments.xml"


@pytest.fixture(scope="session")
def hosts_sandbox_shared(tmp_path_factory):
    """A hosts sandbox for the whole session, for the shared environment only (other modules bring their own)."""
    require_root()
    sandbox = start_hosts_sandbox(tmp_path_factory.mktemp("hosts-sandbox-shared"))
    _RELEASE.append(lambda: stop_hosts_sandbox(sandbox))
    yield sandbox
    release_environment()


_RELEASE: list = []


def release_environment() -> None:
    """Bring the shared environment's sandbox down now (idempotent): called by the last module that uses it."""
    while _RELEASE:
        _RELEASE.pop()()


@pytest.fixture(scope="session")
def environment(hosts_sandbox_shared, tmp_path_factory):
    """``fabulaws create_environment:myproject,testing`` from scratch, with the example's code published."""
    markers = MarkerServer()

    def with_new_relic(config) -> None:
        config["password_names"] += ["newrelic_license_key", "newrelic_api_key"]
        config["newrelic_deployments_url"] = markers.url
        config["newrelic_infrastructure_agent"] = False  # New Relic's apt repository is not reachable from the sandbox

    project = host_project(hosts_sandbox_shared, tmp_path_factory.mktemp("environment"), SECRETS, config_edit=with_new_relic)
    (project["dir"] / "fabfile.py").write_text(FABFILE)
    repository = code_repository(tmp_path_factory.mktemp("code"))
    publish(project, repository)
    watch = ProcessWatch([SECRETS["database_password"], SECRETS["broker_password"], "pa\"ss", "pass word",
                          SECRETS["newrelic_license_key"], SECRETS["newrelic_api_key"]])
    watch.start()
    started = time.monotonic()
    created = fabulaws(project, "create_environment:myproject,testing,num_web=2", timeout=DEPLOY_TIMEOUT)
    seconds = time.monotonic() - started
    watch.stopped.set()
    watch.join()
    print(f"create_environment: {seconds:.0f} s")
    assert created.returncode == 0, created.stdout + created.stderr
    balancer = _sandbox_call(hosts_sandbox_shared["endpoint"], "/_sandbox/status")["hosts"]["balancers"]["myproject-testing-lb"]
    yield {**project, "repository": repository, "lb": balancer, "output": created.stdout + created.stderr,
           "watch": watch, "markers": markers.markers}
    markers.shutdown()


def get(environment, path: str, timeout: float = 10) -> tuple[int, str]:
    """GET through the load balancer, as a visitor of the site's domain would."""
    request = urllib.request.Request(environment["lb"] + path, headers={"Host": SITE})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


class RequestLoop(threading.Thread):
    """``rate`` requests per second to ``/`` through the load balancer until stopped; every answer kept in order."""

    def __init__(self, environment, rate: float = 20) -> None:
        super().__init__(daemon=True)
        self.environment = environment
        self.interval = 1 / rate
        self.answers: list[tuple[int, str]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            started = time.monotonic()
            self.answers.append(get(self.environment, "/"))
            self.stopped.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def stop(self) -> list[tuple[int, str]]:
        self.stopped.set()
        self.join()
        return self.answers


def fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def new_version(environment, version: int) -> None:
    path = environment["repository"] / "myproject" / "version.py"
    path.write_text(re.sub(r"version \d+", f"version {version}", path.read_text()))
    commit(environment["repository"], f"Version {version}")
    publish(environment, environment["repository"])


