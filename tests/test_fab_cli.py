"""Fabric's own ``fab`` (and ``fabulaws``) run the command lines 1.x users type, with Fabric's flags intact.

Everything runs the real programs in subprocesses, against moto over HTTP where AWS is involved.
"""

from __future__ import annotations

import inspect
import os
import shutil
import socket
import subprocess
import sys
import threading

import boto3
import paramiko
import pytest
from fabulaws.library.wsgiautoscale.tasks.operations import deploy_full

from conftest import EXAMPLE, REPO, run_cli

TASKS_FABFILE = """\
import sys
from fabric import task
from fabulaws.library.wsgiautoscale.api import *  # noqa: F401,F403


@task
def show_aws(c):
    \"\"\"Print the AWS profile and region the command line chose.\"\"\"
    print(c.config.fabulaws.get("profile"), c.config.fabulaws.get("region"))


@task
def chatter(c):
    \"\"\"Print far more than a pipe holds.\"\"\"
    for number in range(100000):
        print(f"line {number}")


@task
def interrupted(c):
    raise KeyboardInterrupt
"""


@pytest.fixture
def project(example_project):
    """A copy of examples/myproject: its configuration and its 1.x-style fabfile."""
    shutil.copy(EXAMPLE / "fabfile.py", example_project / "fabfile.py")
    return example_project


def one_line(result) -> str:
    """The error: the last line on stderr (progress lines such as the AWS account may come first), no traceback."""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith("fabulaws: ") for line in lines), result.stderr
    return lines[-1]


# --- the three command lines of the 1.x docs, with Fabric's fab ----------------------------------------------
def test_fab_runs_deploy_full_in_fabric_1_syntax(project, aws_env):
    asks = run_cli(["deploy_full:myproject,production"], project, program="fab", stdin="")
    assert asks.returncode == 2
    assert one_line(asks).endswith("stdin is not a terminal, so nobody can answer; pass answer=y to confirm")
    # answered: it looks for the group in AWS (moto has none) and says so in one line
    result = run_cli(["deploy_full:myproject,production,answer=y"], project, program="fab", env=aws_env)
    assert result.returncode == 1
    assert "Cannot find an Auto Scaling group named 'myproject-production-ag'" in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr


def test_fab_runs_create_environment_in_fabric_1_syntax(project, aws_env):
    result = run_cli(["create_environment:myproject,testing"], project, program="fab", env=aws_env)
    assert result.returncode == 2
    # the task ran and checked its inputs before creating anything
    assert one_line(result).startswith("fabulaws: ssh_keys: ")
    ec2 = boto3.client("ec2", region_name="us-east-1")
    assert [r for r in ec2.describe_instances()["Reservations"]] == []


class RecordingSshServer(paramiko.ServerInterface):
    """Accepts the SSH handshake, records the user name offered, refuses every login."""

    def __init__(self, users: list[str]) -> None:
        self.users = users

    def get_allowed_auths(self, username):
        return "publickey,password"

    def check_auth_none(self, username):
        self.users.append(username)
        return paramiko.AUTH_FAILED

    check_auth_password = lambda self, username, password: self.check_auth_none(username)  # noqa: E731
    check_auth_publickey = lambda self, username, key: self.check_auth_none(username)  # noqa: E731


@pytest.fixture
def ssh_recorder():
    users: list[str] = []
    key = paramiko.RSAKey.generate(2048)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve():
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            transport = paramiko.Transport(client)
            transport.add_server_key(key)
            try:
                transport.start_server(server=RecordingSshServer(users))
                transport.accept(timeout=5)
            except Exception:  # noqa: BLE001 - the client gave up; the test looks at what was recorded
                pass
            finally:
                transport.close()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1], users
    listener.close()


@pytest.mark.parametrize("program", ["fab", "fabulaws"])
def test_dash_u_is_the_user_fab_logs_in_as(project, aws_env, ssh_recorder, program):
    port, users = ssh_recorder
    ec2 = boto3.client("ec2", region_name="us-east-1")
    tags = {"deployment": "myproject", "environment": "staging", "role": "web"}
    ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                      TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])
    (project / "fabsecrets_staging.py").write_text('database_password = "a"\nbroker_password = "b"\nsecret_key = "c"\n')
    (project / "ssh_config").write_text(f"Host *\n    HostName 127.0.0.1\n    Port {port}\n")
    # the client needs a key to offer before it sends a user name
    paramiko.RSAKey.generate(1024).write_private_key_file(str(project / "id_test"))
    args = ["-S", "ssh_config", "-i", "id_test", "-u", "bob", "staging", "update_server_passwords"]
    result = run_cli(args, project, program=program, env=aws_env)
    assert result.returncode == 1, result.stderr
    assert "update_server_passwords failed on 1 of 1 servers" in result.stderr
    assert set(users) == {"bob"}, result.stderr


@pytest.mark.parametrize(
    ("args", "status", "line"),
    [
        (["deploy_ful:myproject,testing"], 2, "fabulaws: no task named 'deploy_ful'; did you mean 'deploy_full'?"),
        (["testing", "describe:myproject,testing,colour=red"], 2, "fabulaws: describe has no argument 'colour'"),
        (["describe", "myproject", "testing", "--colour"], 2, "fabulaws: No idea what '--colour' is!"),
        (["testing:myprojekt"], 2, "fabulaws: unknown deployment 'myprojekt'"),
    ],
)
def test_fab_and_fabulaws_refuse_alike(project, args, status, line):
    for program in ("fab", "fabulaws"):
        result = run_cli(args, project, program=program)
        assert result.returncode == status, (program, result.stderr)
        assert one_line(result).startswith(line), program


def test_fab_is_unchanged_for_projects_without_fabulaws(tmp_path):
    (tmp_path / "fabfile.py").write_text("from fabric import task\n\n@task\ndef hello(c, name):\n    print('hello', name)\n")
    assert run_cli(["hello", "world"], tmp_path, program="fab").stdout == "hello world\n"
    result = run_cli(["hello:world"], tmp_path, program="fab")
    assert (result.returncode, result.stderr.strip()) == (1, "No idea what 'hello:world' is!")


# --- fabfiles --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("program", ["fab", "fabulaws"])
def test_the_repository_fabfile_lists_the_tasks_without_a_config(program):
    result = run_cli(["--list"], REPO, program=program)
    assert result.returncode == 0, result.stderr
    assert "deploy-full" in result.stdout and "create-environment" in result.stdout


@pytest.mark.parametrize("program", ["fab", "fabulaws"])
def test_a_task_without_a_config_names_the_missing_file(tmp_path, program):
    shutil.copy(EXAMPLE / "fabfile.py", tmp_path / "fabfile.py")
    result = run_cli(["describe:myproject,testing"], tmp_path, program=program)
    assert result.returncode == 2
    assert one_line(result) == (
        f"fabulaws: {tmp_path}: no fabulaws-config.yml (or fabulaws-config.yaml) found here or in any parent directory; "
        "run fabulaws from your project's directory"
    )


@pytest.mark.parametrize(
    ("fabfile", "line", "what"),
    [
        ("from fabric.api import env\nfrom fabulaws.library.wsgiautoscale.api import *\n", 1, "No module named 'fabric.api'"),
        ("from fabulaws.library.wsgiautoscale.api import *\nfrom fabulaws.library.wsgiautoscale.api import _setup_env\n",
         2, "cannot import name '_setup_env'"),
        ("from fabulaws.library.wsgiautoscale.api import *\n\nenv.user = 'bob'\n", 3, "name 'env' is not defined"),
    ],
)
@pytest.mark.parametrize("program", ["fab", "fabulaws"])
def test_a_1x_fabfile_that_cannot_be_imported_is_one_line(example_project, fabfile, line, what, program):
    if program == "fab" and fabfile.startswith("from fabric.api"):
        pytest.skip("fab fails before FabulAWS is imported: Fabric's own traceback")
    (example_project / "fabfile.py").write_text(fabfile)
    result = run_cli(["--list"], example_project, program=program)
    assert result.returncode == 2
    message = one_line(result)
    assert message.startswith(f"fabulaws: {example_project / 'fabfile.py'}:{line}: cannot import the fabfile: ")
    assert what in message
    assert message.endswith('see "Porting a fabfile" in docs/migration.rst')


@pytest.mark.parametrize("with_fabfile", [True, False])
def test_deprecation_warnings_are_printed_once(example_project, with_fabfile):
    config = example_project / "fabulaws-config.yml"
    config.write_text(config.read_text() + "database_host: db.example.com\n")
    if with_fabfile:  # 1.x fabfiles set up logging themselves
        shutil.copy(EXAMPLE / "fabfile.py", example_project / "fabfile.py")
    result = run_cli(["testing"], example_project)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("database_host is deprecated") == 1, result.stderr


# --- Fabric's flags keep their meaning ---------------------------------------------------------------------------
def test_project_and_fabfile_found_from_a_subdirectory(project):
    sub = project / "deployment" / "sub"
    sub.mkdir(parents=True)
    for program in ("fab", "fabulaws"):
        result = run_cli(["--list"], sub, program=program)
        assert result.returncode == 0, result.stderr
        assert "testing" in result.stdout.split()
    (project / "fabfile.py").unlink()
    result = run_cli(["--list"], sub)
    assert result.returncode == 0, result.stderr
    assert "staging" in result.stdout.split()


def test_dash_h_that_names_no_server_is_an_error(project, aws_env):
    from fabulaws.aws import Aws
    from fabulaws.config import load_settings
    from fabulaws.sandbox.seed import seed

    settings = load_settings(project / "fabulaws-config.yml")
    seed(Aws.from_settings(settings), settings)  # the load balancers describe reports on
    ec2 = boto3.client("ec2", region_name="us-east-1")
    tags = {"deployment": "myproject", "environment": "testing", "role": "web"}
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                 TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])
    address = instance["Instances"][0]["PrivateIpAddress"]
    result = run_cli(["-H", "10.9.9.9", "describe:myproject,testing"], project, env=aws_env)
    assert result.returncode == 2
    assert one_line(result) == f"fabulaws: -H 10.9.9.9: no server of myproject testing has that name (its servers: {address})"
    assert run_cli(["-H", address, "describe:myproject,testing"], project, env=aws_env).returncode == 0


@pytest.mark.parametrize("how", ["-w", "fabric.yaml"])
def test_warn_only_is_refused_for_fabulaws_tasks(project, aws_env, how):
    args = ["describe:myproject,testing"]
    if how == "-w":
        args = ["-w", *args]
    else:  # a project's fabric.yaml is honoured, here with or without a fabfile
        (project / "fabric.yaml").write_text("run:\n  warn: true\n")
    for present in (True, False):
        if not present:
            (project / "fabfile.py").unlink()
        result = run_cli(args, project, env=aws_env)
        assert result.returncode == 2, result.stderr
        assert "-w/--warn-only (run.warn) would turn failed remote steps into successes" in one_line(result)


def test_warn_only_keeps_its_meaning_for_the_projects_own_tasks(tasks_project):
    result = run_cli(["-w", "show_aws"], tasks_project)
    assert (result.returncode, result.stdout) == (0, "None None\n"), result.stderr


def test_task_help_documents_every_option(project):
    result = run_cli(["-h", "deploy_full"], project, program="fab")
    assert result.returncode == 0, result.stderr
    options = result.stdout.split("Options:")[1].strip().splitlines()
    flags = [line for line in options if line.strip().startswith("-")]
    assert len(flags) == len(inspect.signature(deploy_full.body).parameters) - 1  # all but the Context
    assert all(len(line.split("  ", 1)) == 2 and line.split("  ", 1)[1].strip() for line in flags), options


@pytest.mark.parametrize("task", ["describe", "describe:myproject,testing"])
def test_task_help_keeps_the_texts_fab_shows(project, task):
    """fabulaws used to build a parser of its own first, which took the help texts away from invoke's."""
    result = run_cli(["-h", task], project)
    assert result.returncode == 0, result.stderr
    assert "print JSON instead of text" in result.stdout


def test_every_builtin_task_option_has_help():
    """What ``-h TASK`` shows; one process for all tasks (the collection is what the programs load)."""
    script = (
        "import inspect\n"
        "from fabulaws.library.wsgiautoscale.tasks import STATIC_TASKS\n"
        "from fabulaws.library.wsgiautoscale.tasks.environment import environment_task\n"
        "from fabulaws.config import load_settings\n"
        f"settings = load_settings({str(EXAMPLE / 'fabulaws-config.yml')!r})\n"
        "tasks = {**STATIC_TASKS, 'testing': environment_task(settings, 'testing')}\n"
        "for name, task in tasks.items():\n"
        "    for param in list(inspect.signature(task.body).parameters)[1:]:\n"
        "        if not task.help.get(param):\n"
        "            print(name, param)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (0, ""), result.stderr


@pytest.mark.parametrize("timeout_flags", [[], ["-t", "4"]], ids=["ssh_config", "ssh_config-and-t"])
def test_ssh_config_connect_timeout_and_t_are_honoured(project, aws_env, ssh_recorder, timeout_flags):
    port, users = ssh_recorder
    ec2 = boto3.client("ec2", region_name="us-east-1")
    tags = {"deployment": "myproject", "environment": "staging", "role": "web"}
    ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                      TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])
    (project / "fabsecrets_staging.py").write_text('database_password = "a"\nbroker_password = "b"\nsecret_key = "c"\n')
    (project / "ssh_config").write_text(f"Host *\n    HostName 127.0.0.1\n    Port {port}\n    ConnectTimeout 3\n")
    paramiko.RSAKey.generate(1024).write_private_key_file(str(project / "id_test"))
    args = [*timeout_flags, "-S", "ssh_config", "-i", "id_test", "staging", "update_server_passwords"]
    result = run_cli(args, project, env=aws_env)
    assert "Refusing to be ambiguous" not in result.stderr
    assert users, result.stderr  # the connection got as far as logging in


# --- exit status and output ----------------------------------------------------------------------------------------
@pytest.fixture
def tasks_project(example_project):
    (example_project / "fabfile.py").write_text(TASKS_FABFILE)
    return example_project


@pytest.mark.parametrize("program", ["fab", "fabulaws"])
def test_profile_and_region_are_stored_for_the_aws_session(tasks_project, program):
    result = run_cli(["--profile", "ops", "--region", "eu-west-1", "show_aws"], tasks_project, program=program)
    assert (result.returncode, result.stdout) == (0, "ops eu-west-1\n"), result.stderr
    assert run_cli(["show-aws"], tasks_project, program=program).stdout == "None None\n"


@pytest.mark.parametrize("program", ["fab", "fabulaws"])
def test_interrupted_exits_130(tasks_project, program):
    result = run_cli(["interrupted"], tasks_project, program=program)
    assert result.returncode == 130
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("program", ["fab", "fabulaws"])
def test_a_closed_pipe_is_no_traceback(tasks_project, program):
    module = "fabulaws" if program == "fabulaws" else "fabric"
    process = subprocess.Popen([sys.executable, "-m", module, "chatter"], cwd=tasks_project,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    assert process.stdout.readline() == b"line 0\n"
    process.stdout.close()  # as `| head -1` does
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert stderr == ""


def test_listing_stand_ins_match_the_real_tasks():
    """--list/--help/--complete show stand-ins read from source (fabulaws.tasklist): the same as the real tasks."""
    script = (
        "import inspect\n"
        "from pathlib import Path\n"
        "from fabulaws.tasklist import static_tasks, environment_tasks\n"
        "from fabulaws.library.wsgiautoscale.tasks import builtin_tasks\n"
        "from fabulaws.config import load_settings\n"
        f"config = Path({str(EXAMPLE / 'fabulaws-config.yml')!r})\n"
        "def shape(t):\n"
        "    sig = [(p.name, p.default) for p in inspect.signature(t.body).parameters.values()]\n"
        "    return (t.name, sig, t.__doc__, dict(t.help), list(t.iterable), t.discovers_hosts)\n"
        "stand_ins = {**static_tasks(), **environment_tasks(config)}\n"
        "real = builtin_tasks(load_settings(config))\n"
        "assert sorted(stand_ins) == sorted(real), (sorted(stand_ins), sorted(real))\n"
        "for name in real:\n"
        "    assert shape(stand_ins[name]) == shape(real[name]), (shape(stand_ins[name]), shape(real[name]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("where", [REPO, EXAMPLE], ids=["repository", "project"])
@pytest.mark.parametrize("args", [["--version"], ["--list"], ["--complete", "--", "fabulaws", "dep"], ["-h", "deploy_full"]])
def test_fast_paths_import_neither_boto3_nor_pydantic(args, where):
    """--version, --list, -h TASK and --complete (on every TAB) stay as fast as ``fab``'s (benchmarks/ times them)."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "fabulaws", *args], cwd=where,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert not {"boto3", "botocore", "pydantic"} & imported


LOGGING_FABFILE = """\
import logging

logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")  # as 1.x fabfiles did

from fabric import task
from fabulaws.library.wsgiautoscale.api import *  # noqa: E402,F401,F403


@task
def talk(c):
    logging.getLogger("paramiko.transport").info("[chan 3] Opened sftp connection (server version 3)")
    logging.getLogger("fabulaws.progress").info("creating servers")
"""


@pytest.mark.parametrize("program", ["fab", "fabulaws"])
def test_a_fabfile_logging_at_info_gets_our_progress_without_paramikos_chatter(example_project, program):
    (example_project / "fabfile.py").write_text(LOGGING_FABFILE)
    result = run_cli(["talk"], example_project, program=program)
    assert result.returncode == 0, result.stderr
    assert "creating servers" in result.stderr
    assert "Opened sftp connection" not in result.stderr
