"""Ad-hoc commands and 1.x's per-task narrowing, without servers: which servers roles=/hosts=/-H choose, and the
one-line refusals. The commands themselves run in tests/test_environment_adhoc.py on sandbox hosts."""

from __future__ import annotations

import pytest
from fabric import Config
from fabulaws.config import load_settings
from fabulaws.errors import UsageError
from fabulaws.library.wsgiautoscale.context import (
    chosen_servers,
    named_servers,
    narrowed_roles,
)
from fabulaws.library.wsgiautoscale.environment import Environment
from fabulaws.library.wsgiautoscale.stack import Server, Stack
from fabulaws.library.wsgiautoscale.tasks.adhoc import METHODS
from invoke import Context

from conftest import EXAMPLE, run_cli


def server(number: int, role: str) -> Server:
    return Server(f"i-{number:04d}", role, f"10.0.0.{number}", f"10.0.0.{number}", f"ip-10-0-0-{number}.internal",
                  "", "", "us-east-1a")


@pytest.fixture(scope="module")
def stack() -> Stack:
    settings = load_settings(EXAMPLE / "fabulaws-config.yml")
    found = [server(1, "web"), server(2, "web"), server(3, "worker"), server(4, "cache"), server(5, "db-primary")]
    return Stack.from_servers(Environment.of(settings, "myproject", "testing"), found)


def context(**selected: object) -> Context:
    return Context(config=Config(overrides={"fabulaws": selected}))


def addresses(servers: list[Server]) -> list[str]:
    return sorted(s.private_ip.rsplit(".", 1)[1] for s in servers)


@pytest.mark.parametrize(
    ("selected", "expected"),
    [
        ({}, ["1", "2", "3", "4", "5"]),
        ({"task_roles": ["worker", "cache"]}, ["3", "4"]),
        ({"task_hosts": ["10.0.0.2"]}, ["2"]),
        ({"hosts": ["ip-10-0-0-3.internal"]}, ["3"]),  # -H: exactly that server, not every other role's too
        ({"hosts": ["10.0.0.1"], "task_hosts": ["10.0.0.5"]}, ["5"]),  # hosts= wins over -H, as in 1.x
        ({"task_roles": ["web"], "task_hosts": ["10.0.0.1", "10.0.0.3"]}, ["1"]),
    ],
)
def test_adhoc_commands_run_on_the_servers_the_selection_names(stack, selected, expected):
    assert addresses(chosen_servers(context(**selected), stack)) == expected


def test_app_tasks_keep_their_roles_and_narrow_them(stack):
    settings = stack.settings
    assert narrowed_roles(context(), settings, ("web", "worker")) == ("web", "worker")
    assert narrowed_roles(context(task_roles=["worker"]), settings, ("web", "worker")) == ("worker",)
    with pytest.raises(UsageError, match=r"^roles=cache: this task acts on web, worker servers only$"):
        narrowed_roles(context(task_roles=["cache"]), settings, ("web", "worker"))
    with pytest.raises(UsageError, match=r"^roles=wrker: not a role of this project \(valid_roles: "):
        narrowed_roles(context(task_roles=["wrker"]), settings, ("web", "worker"))
    # -H keeps its meaning for app tasks (it narrows the roles it names); hosts= is exact
    web = stack.by_role("web")
    assert named_servers(context(hosts=["10.0.0.1"]), web) == web
    assert named_servers(context(task_hosts=["10.0.0.1"]), web) == web[:1]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["call_server_method:reboot_everything"],
         f"fabulaws: call_server_method: unknown method 'reboot_everything'; known: {', '.join(METHODS)}"),
        (["run_shell_command: "], "fabulaws: run_shell_command: command is empty"),
        (["run_shell_command:uptime,use_sudo=maybe"], "fabulaws: run_shell_command: use_sudo=maybe: expected yes or no"),
        (["run_shell_command:uptime,roles=web;;"], "fabulaws: no environment selected"),
    ],
)
def test_bad_adhoc_command_lines_are_one_line(example_project, args, line):
    result = run_cli(args, example_project)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(line)


def test_every_method_is_documented():
    text = (EXAMPLE.parent.parent / "docs" / "tasks.rst").read_text()
    assert all(f"``{name}``" in text for name in METHODS)


@pytest.mark.parametrize("name", ["run_shell_command", "call_server_method", "install_rsyslog", "install_logstash",
                                  "install_awslogs", "install_munin", "install_newrelic_infrastructure_agent",
                                  "upload_newrelic_infrastructure_conf"])
def test_tasks_on_every_server_accept_1x_roles_and_hosts(name):
    """They all choose their servers with context.chosen_servers, so 1.x's ``task:roles=worker`` narrows each."""
    from fabulaws.fabric1 import narrowable
    from fabulaws.library.wsgiautoscale import tasks

    assert narrowable(tasks.STATIC_TASKS[name])
