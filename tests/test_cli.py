"""The ``fabulaws`` command as users run it: task collections, -u, environments, errors."""

from __future__ import annotations

import http.server
import threading

import pytest

from conftest import run_cli

FABFILE_1X = """\
import logging
logging.basicConfig(level=logging.INFO)
from fabulaws.library.wsgiautoscale.api import *  # noqa: F401,F403
from fabric import task


@task
def project_task(c):
    \"\"\"A task of the project's own.\"\"\"
    print("project task ran")
"""

WHOAMI_FABFILE = """\
from fabric import task


@task
def whoami(c):
    print(f"{c.host} {c.user}")
"""


def listed_tasks(output: str) -> list[str]:
    return [line.split()[0] for line in output.splitlines() if line.startswith("  ") and line.strip()]


def test_builtin_tasks_without_a_fabfile(example_project):
    result = run_cli(["--list"], example_project)
    assert result.returncode == 0, result.stderr
    tasks = listed_tasks(result.stdout)
    for name in ("describe", "suspend-autoscaling-processes", "resume-autoscaling-processes"):
        assert name in tasks
    assert {"testing", "staging", "production"} <= set(tasks)


def test_a_1x_fabfile_works_unchanged(example_project):
    (example_project / "fabfile.py").write_text(FABFILE_1X)
    result = run_cli(["--list"], example_project)
    assert result.returncode == 0, result.stderr
    assert {"describe", "testing", "project-task"} <= set(listed_tasks(result.stdout))
    result = run_cli(["testing", "project_task"], example_project)
    assert (result.returncode, result.stdout) == (0, "project task ran\n")


def test_plain_fab_runs_the_same_tasks_with_fabric_2_syntax(example_project):
    (example_project / "fabfile.py").write_text(FABFILE_1X)
    result = run_cli(["staging", "--deployment-tag", "myproject", "project-task"], example_project, program="fab")
    assert (result.returncode, result.stdout) == (0, "project task ran\n"), result.stderr


def test_one_environment_task_per_configured_environment(example_project):
    config = example_project / "fabulaws-config.yml"
    config.write_text(config.read_text().replace("environments: [testing, staging, production]", "environments: [testing, staging, production, qa-2]"))
    result = run_cli(["--list"], example_project)
    assert "qa-2" in listed_tasks(result.stdout)
    # selecting it checks its entries in the environment-keyed maps first: qa-2 has none yet
    selected = run_cli(["qa-2:myproject"], example_project)
    assert selected.returncode == 2
    assert selected.stderr.endswith(": branches.myproject: no entry for environment 'qa-2' (expected "
                                    "branches.myproject.qa-2) (and 3 more problems for qa-2)\n")
    assert run_cli(["testing:myproject"], example_project).returncode == 0  # the others' gaps do not matter


def test_task_help_accepts_underscores(example_project):
    result = run_cli(["--help", "suspend_autoscaling_processes"], example_project)
    assert result.returncode == 0, result.stderr
    assert "Suspend Auto Scaling processes" in result.stdout


def test_production_asks_and_refuses_without_a_terminal(example_project):
    result = run_cli(["production", "describe:myproject,production"], example_project, stdin="")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "fabulaws: Are you sure you want to run tasks on the production environment production? -- stdin is not a "
        "terminal, "
        "so nobody can answer; pass answer=y to confirm"
    ]


def test_production_with_answer_no_is_not_activated(example_project):
    result = run_cli(["production:answer=n"], example_project)
    assert (result.returncode, result.stderr.strip()) == (
        2, "fabulaws: Not running tasks on the production environment production.")


def test_unknown_deployment_for_an_environment(example_project):
    result = run_cli(["testing:myprojekt"], example_project)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "fabulaws: unknown deployment 'myprojekt'; choose a valid deployment: myproject; did you mean 'myproject'?"
    )


@pytest.fixture
def whoami_dir(tmp_path):
    (tmp_path / "fabfile.py").write_text(WHOAMI_FABFILE)
    (tmp_path / "ssh_config").write_text("Host h2\n    User carol\n")
    return tmp_path


def test_dash_u_beats_ssh_config_and_loses_to_user_at_host(whoami_dir):
    hosts = "alice@h1,h2,h3"
    result = run_cli(["-u", "bob", "-S", "ssh_config", "-H", hosts, "whoami"], whoami_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["h1 alice", "h2 bob", "h3 bob"]
    without_u = run_cli(["-S", "ssh_config", "-H", hosts, "whoami"], whoami_dir)
    assert without_u.stdout.splitlines()[:2] == ["h1 alice", "h2 carol"]


class RecordingHandler(http.server.BaseHTTPRequestHandler):
    """Stands in for AWS: records every request it gets and answers 500."""

    requests: list[str] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        self.requests.append(self.path)
        self.send_response(500)
        self.end_headers()

    do_GET = do_POST

    def log_message(self, *args):
        pass


@pytest.fixture
def recording_endpoint():
    RecordingHandler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RecordingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", RecordingHandler.requests
    server.shutdown()


@pytest.mark.parametrize("task", ["describe:myproject,testing", "suspend_autoscaling_processes:myproject,testing"])
def test_bad_config_is_one_line_exit_1_and_no_aws_call(example_project, recording_endpoint, task):
    endpoint, requests = recording_endpoint
    config = example_project / "fabulaws-config.yml"
    text = config.read_text().replace("deploy_user:", "deploy_usr:")
    config.write_text(text)
    line = next(number for number, row in enumerate(text.splitlines(), 1) if row.startswith("deploy_usr:"))
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    result = run_cli([task], example_project, env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"fabulaws: fabulaws-config.yml:{line}: deploy_usr: unknown key; did you mean 'deploy_user'? (and 1 more problem)"
    ]
    assert result.stdout == ""
    assert requests == []


@pytest.mark.parametrize("task", ["update_server_passwords", "update_local_fabsecrets:answer=y"])
def test_secrets_tasks_need_an_environment_and_change_nothing_without_one(example_project, recording_endpoint, task):
    endpoint, requests = recording_endpoint
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    result = run_cli([task], example_project, env=env)
    assert result.returncode == 2
    assert "no environment selected; run an environment task first" in result.stderr
    assert requests == []
    assert not (example_project / "fabsecrets_testing.py").exists()


def test_update_local_fabsecrets_refuses_a_project_without_a_secrets_file(example_project, recording_endpoint):
    endpoint, requests = recording_endpoint
    config = example_project / "fabulaws-config.yml"
    config.write_text(config.read_text() + "\nsecrets:\n  store: environment\n")
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    result = run_cli(["testing", "update_local_fabsecrets:answer=y"], example_project, env=env)
    assert result.returncode == 2
    assert "secrets.store is 'environment': this project keeps no fabsecrets file to update" in result.stderr
    assert requests == []
